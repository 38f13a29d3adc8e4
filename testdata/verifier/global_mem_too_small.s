; The caller's memory must cover the pointee (8 bytes from fp-4 do not fit).
; kernel: reject: Caller passes invalid args into func#1 ('f')
; func: main global
; func: f global mem:8
r1 = r10
r1 += -0x4
call local 0x2
r0 = 0x0
exit
r0 = 0x0
exit
