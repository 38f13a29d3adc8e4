; Nine nested frames.
; kernel: reject: the call stack of 9 frames is too deep
call local 0x1
exit
call local 0x1
exit
call local 0x1
exit
call local 0x1
exit
call local 0x1
exit
call local 0x1
exit
call local 0x1
exit
call local 0x1
exit
r0 = 0x0
exit
