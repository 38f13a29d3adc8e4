; A jump to before the first instruction.
; kernel: reject: jump out of range from insn 1 to -1
r0 = 0x0
goto -0x3
exit
