; The device-bound check fires before the program-type check (§G P6).
; kernel: reject: metadata kfuncs require device-bound program
; type: sched_cls
; kfunc: bpf_xdp_metadata_rx_timestamp
r2 = r10
r2 += -8
call kfunc 0x1
r0 = 0x0
exit
