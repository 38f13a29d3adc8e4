; The last instruction falls through.
; kernel: reject: last insn is not an exit or jmp
r0 = 0x0
