; A loop counting its iterations converges (the counter is widened).
; kernel: accept
; type: xdp
; kfunc: bpf_iter_num_new
; kfunc: bpf_iter_num_next
; kfunc: bpf_iter_num_destroy
r6 = 0x0
r1 = r10
r1 += -8
r2 = 0x0
r3 = 0xa
call kfunc 0x1
loop:
r1 = r10
r1 += -8
call kfunc 0x2
if r0 == 0x0 goto <done>
r6 += 0x1
goto <loop>
done:
r1 = r10
r1 += -8
call kfunc 0x3
r0 = 0x2
exit
