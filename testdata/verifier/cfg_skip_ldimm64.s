; A jump over the first slot of ld_imm64 into its second: the first is never reached.
; kernel: reject: unreachable insn 1
goto +0x1
r0 = 0x1122334455667788 ll
exit
