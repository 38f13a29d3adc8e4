; Exit without setting R0.
; kernel: reject: R0 !read_ok
exit
