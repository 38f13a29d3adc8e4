; Nine global functions calling each other: exploration never nests them, the static walk of check_max_stack_depth counts the frames (its message keeps the ' !').
; kernel: reject: the call stack of 8 frames is too deep !
; func: main global
; func: g1 global scalar
; func: g2 global scalar
; func: g3 global scalar
; func: g4 global scalar
; func: g5 global scalar
; func: g6 global scalar
; func: g7 global scalar
; func: g8 global scalar
r1 = 0x0
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
