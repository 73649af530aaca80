# Shared declarations of the netting kernel (see _netting.pyx).

ctypedef long long qty_t

cdef qty_t ceil_to(qty_t qty, qty_t step) noexcept nogil
cdef qty_t lowest_balance(qty_t balance, long end, long today, Py_ssize_t i, Py_ssize_t j,
                          const long long[::1] req_day, const long long[::1] req_qty,
                          const long long[::1] rcp_day, const long long[::1] rcp_qty) noexcept nogil
