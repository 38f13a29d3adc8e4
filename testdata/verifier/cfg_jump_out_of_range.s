; A conditional jump past the end of the program.
; kernel: reject: jump out of range from insn 1 to 7
r0 = 0x0
if r0 > 0x1 goto +0x5
exit
