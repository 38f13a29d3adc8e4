; Both ld_imm64 and its second slot are reached.
; kernel: reject: jump into the middle of ldimm64 insn 1
if r1 == 0x0 goto +0x1
r0 = 0x1122334455667788 ll
exit
