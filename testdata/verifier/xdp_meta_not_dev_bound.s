; Metadata kfuncs need a device-bound load (§G P4).
; kernel: reject: metadata kfuncs require device-bound program
; type: xdp
; kfunc: bpf_xdp_metadata_rx_timestamp
r2 = r10
r2 += -8
call kfunc 0x1
r0 = 0x0
exit
