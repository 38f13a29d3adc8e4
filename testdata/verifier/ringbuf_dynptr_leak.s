; A ringbuf dynptr is a reference: it must be submitted or discarded.
; kernel: reject: BPF_EXIT instruction in main prog would lead to reference leak
; type: xdp
; map: 27 0 0 4096
ld_pseudo r1, 0x1, 0x0
r2 = 0x8
r3 = 0x0
r4 = r10
r4 += -16
call 0xc6
r0 = 0x0
exit
