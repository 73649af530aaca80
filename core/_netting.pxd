# Shared declarations of the netting kernel (see _netting.pyx).

ctypedef long long qty_t

cdef extern from *:
    ctypedef long long int128 "__int128"  # gcc's 128-bit integer: exact BOM factor products

# Days are proleptic ordinals (Python's dates end at 3,652,059), so 32 bits hold them; Entry is packed to
# 12 bytes and Order has no padding (memcmp compares plans): these arrays are most of a site's memory.
ctypedef int day_t

cdef packed struct Entry:
    day_t day
    qty_t qty

cdef struct Order:
    day_t due
    day_t release
    qty_t qty
    qty_t shortfall

# A node's arrays hold a horizon of days, far below 2**31 entries: 32-bit lengths keep each vector 16 bytes
# (a node has eight, and a site a node per item).
cdef struct EntryVec:
    Entry* data
    int n
    int cap

cdef struct LoadEntry:
    long long key                 # work center << 32 | day
    qty_t minutes
    unsigned long long sig        # which orders make the minutes: a sum of hashes of (due, rank, share)

cdef struct LoadVec:
    LoadEntry* data
    int n
    int cap

cdef struct OrderVec:
    Order* data
    int n
    int cap

cdef qty_t ceil_to(qty_t qty, qty_t step) noexcept nogil
cdef qty_t comp_qty(qty_t parent_qty, int128 numerator, int128 denominator) noexcept nogil
cdef int net_core(long long today, qty_t on_hand, qty_t safety_stock, long long lead_time, int rule,
                  qty_t fixed_qty, qty_t min_qty, qty_t max_qty, qty_t multiple, long long period_days,
                  double ordering_cost, double holding_per_unit,
                  const Entry* req, Py_ssize_t nr, const Entry* rcp, Py_ssize_t nc, OrderVec* out,
                  const Order* old, Py_ssize_t nold, qty_t moved, long long start_from, long long settle_from,
                  Py_ssize_t* head, Py_ssize_t* tail) except -1


cdef class PlanStamp:
    cdef readonly str site
    cdef readonly object ts
    cdef readonly bytes key_prefix, tail
    cdef readonly bint quiet     # no records: a restore re-plans what the topics say already


cdef class PlannedOrderRecord:
    cdef readonly str site, item
    cdef readonly object ts
    cdef readonly bytes key, value


cdef class ItemNode:
    cdef public str name
    cdef public bint make
    cdef bytes label, key_utf8
    cdef public long long on_hand, safety_stock, fixed_qty, min_qty, max_qty, multiple, lead_time, period_days
    cdef public int rule
    cdef public double ordering_cost, holding
    cdef public bint phantom
    cdef public int level                  # low-level code: a cascade re-nets parents before components
    cdef public bint watch                 # the planner looks at this item after a re-net (see cascade)
    cdef public bint always                # ... after every one, not only when its messages' inputs moved
    cdef long long msg_today               # the day the planner last looked at it
    cdef bint msg_moved                    # what its messages derive from moved since then
    cdef long long* needs_                 # the day each receipt is needed, as of the last re-net
    cdef Py_ssize_t nneeds
    cdef public bint day_only              # queued only because the day moved: skipped when day_stable
    cdef public bint queued                # waiting in a cascade
    cdef public long long pending          # what the planner reads again before the next re-net (0: nothing)
    cdef bint net_full                     # the next re-net nets the whole horizon (else it may settle early)
    cdef qty_t net_on_hand                 # the stock the last re-net netted
    cdef qty_t dep_moved                   # what the dependent requirements changed by since then, in total
    cdef long long dep_first, dep_last     # the earliest and latest day they changed on (none: ±_NO_DAY)
    cdef EntryVec own, dep, rcp, firm, passed
    cdef OrderVec planned_
    cdef long long today_
    cdef list comps
    cdef int128* nums
    cdef int128* dens
    cdef Py_ssize_t nlines
    cdef unsigned long long stamp
    cdef LoadVec load_           # what the planned orders load, sorted by key
    cdef OrderVec pend_out, pend_in   # planned orders changed since the last load_update (rank in .shortfall)
    cdef long long load_today_
    cdef bint load_full_         # the next load_update recomputes everything (new node, new operations)
    cdef long long* op_wc
    cdef qty_t* op_setup
    cdef qty_t* op_run
    cdef Py_ssize_t nops

    cpdef add_dep(self, long long day, long long qty)
    cdef int _add_dep(self, long long day, qty_t qty) except -1
    cdef int _set_lines(self, list components, list numerators, list denominators) except -1
    cdef int _build_gross(self) except -1
    cdef int _replan(self, long long today, PlanStamp stamp, list changes, list touched) except -1
    cdef int _changes(self, long long today, PlanStamp stamp, list out, Py_ssize_t same_head,
                      Py_ssize_t same_tail) except -1
    cdef int _note_messages(self, long long today) except -1
    cdef int _emit(self, list out, PlanStamp stamp, long long due, long long rank, long long release, qty_t qty,
                   bint past_due, bint deleted) except -1
    cdef int _touch(self, ItemNode component, list touched) except -1
    cdef int _flush(self) except -1
    cdef int _merge_dep(self, EntryVec* delta, bint unsorted) except -1
    cdef int _explode_one(self, long long day, qty_t qty, int sign, list touched) except -1
    cdef int _explode(self, const Entry* src, Py_ssize_t n, int sign, list touched) except -1
    cdef int _explode_orders(self, const Order* src, Py_ssize_t n, int sign, list touched) except -1
    cdef int _diff_entries(self, const Entry* old, Py_ssize_t no, const Entry* new, Py_ssize_t nn,
                           list touched) except -1
    cdef int _diff_orders(self, list touched, Py_ssize_t same_head, Py_ssize_t same_tail) except -1
    cdef int _line_needs(self, list out, ItemNode component, qty_t qty, str kind, str ref) except -1
    cdef int _released_needs(self, list out, ItemNode component, long long day, long long today) except -1
    cdef int _note_load_changes(self) except -1
    cdef object _apply_load_delta(self, long long today, const unsigned char* mask)
