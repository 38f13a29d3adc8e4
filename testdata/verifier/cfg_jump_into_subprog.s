; The main program jumps into a subprogram's body.
; kernel: reject: jump out of range from insn 1 to 4
r0 = 0x0
if r0 == 0x0 goto +0x2
call local 0x1
exit
r0 = 0x1
exit
