; Dead code after exit.
; kernel: reject: unreachable insn 2
r0 = 0x0
exit
r0 = 0x1
exit
