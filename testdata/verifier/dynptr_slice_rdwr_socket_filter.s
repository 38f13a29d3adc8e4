; Socket filters cannot write packets, so no writable slices.
; kernel: reject: the prog does not allow writes to packet data
; type: socket_filter
; kfunc: bpf_dynptr_from_skb
; kfunc: bpf_dynptr_slice_rdwr
r6 = r1
r1 = r6
r2 = 0x0
r3 = r10
r3 += -16
call kfunc 0x1
r1 = r10
r1 += -16
r2 = 0x0
r3 = 0x0
r4 = 0x4
call kfunc 0x2
r0 = 0x0
exit
