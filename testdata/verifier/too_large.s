; A loop bounded only by a 2^31 counter: past the 1M-instruction complexity limit.
; kernel: reject: BPF program is too large. Processed 1000001 insn
r1 = 0x0
r1 += 0x1
if r1 < 0x7fffffff goto -0x2
r0 = 0x0
exit
