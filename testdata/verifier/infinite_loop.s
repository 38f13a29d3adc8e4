; A loop that never changes its state.
; kernel: reject: infinite loop detected at insn 1
r0 = 0x0
if r0 == 0x0 goto -0x1
exit
