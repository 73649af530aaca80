# cython: language_level=3
"""Compiled netting kernel; ``_netting_py.py`` is its readable twin (same results).

``ItemNode`` keeps one item's planning state in C arrays between events, so a
re-plan walks int64 (day, qty) entries and creates Python objects only for
planned orders that changed.  Quantities are fixed-point int64 (micro-units),
days are date ordinals.
"""

import json
from heapq import heapify, heappop, heappush
from math import gcd

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.math cimport ceil, sqrt
from libc.stdlib cimport free, malloc, qsort, realloc
from libc.string cimport memcmp, memcpy, memmove

CYTHON_MODULE = 1

LOT_FOR_LOT, FIXED, MIN_MULTIPLE, PERIOD, EOQ = 0, 1, 2, 3, 4
cdef int _FIXED = 1, _MIN_MULTIPLE = 2, _PERIOD = 3, _EOQ = 4
cdef qty_t UNIT = 1000000
cdef long YEAR_DAYS = 365
cdef double MAX_UNITS = 1e9
QTY_CAP = 10**15
cdef qty_t _QTY_CAP = 1000000000000000
MAX_SPLIT = 1000
cdef qty_t _MAX_SPLIT = 1000
cdef long long _NO_DAY = 1 << 62   # ItemNode.dep_first (dep_last: -_NO_DAY): no change since the last re-net
MINUTES_CAP = 10**15
cdef qty_t _MINUTES_CAP = 1000000000000000
EVERY_DAY = 0x7F


cdef int128 _I64_MAX = <long long>0x7FFFFFFFFFFFFFFF
cdef unsigned long long _stamp = 0  # marks components already listed as touched by one call
# Scratch arrays shared by every node (one call at a time, under the GIL): merged gross
# requirements and a new plan live here until the plan is copied into its node.
cdef EntryVec _gross
cdef OrderVec _scratch
# the gross requirements of the node last built (``_build_gross``): ``_gross`` or, for a node without
# requirements of its own (most components), its dependent day totals as they stand, not copied
cdef const Entry* _gp = NULL
cdef Py_ssize_t _gn = 0
_gross.data = NULL; _gross.n = 0; _gross.cap = 0
_scratch.data = NULL; _scratch.n = 0; _scratch.cap = 0
# What one call explodes onto each BOM line, as (day, delta) entries, merged into the components'
# day totals once at the end of the call (``_flush``): a re-plan that moves many lot-sized orders
# changes a component's totals in one pass instead of one sorted insert or delete per order.
cdef EntryVec* _pending = NULL
cdef bint* _unsorted = NULL
cdef Py_ssize_t _pending_cap = 0
cdef EntryVec _merged
_merged.data = NULL; _merged.n = 0; _merged.cap = 0
cdef long long* _needs = NULL   # a re-net's need day per receipt, before it is compared with the node's
cdef Py_ssize_t _needs_cap = 0
cdef LoadVec _loadv   # a node's new capacity load, before it is compared with the last one
_loadv.data = NULL; _loadv.n = 0; _loadv.cap = 0
cdef LoadVec _merged_load
_merged_load.data = NULL; _merged_load.n = 0; _merged_load.cap = 0


# --- growable arrays ------------------------------------------------------------------

cdef int ev_reserve(EntryVec* v, Py_ssize_t size) except -1:
    cdef Py_ssize_t cap
    cdef Entry* data
    if size <= v.cap:
        return 0
    cap = v.cap + v.cap // 4 + 4  # modest growth: these arrays are most of a site's memory
    if cap < size:
        cap = size
    data = <Entry*>realloc(v.data, cap * sizeof(Entry))
    if data == NULL:
        raise MemoryError()
    v.data, v.cap = data, cap
    return 0


cdef int ov_reserve(OrderVec* v, Py_ssize_t size) except -1:
    cdef Py_ssize_t cap
    cdef Order* data
    if size <= v.cap:
        return 0
    cap = v.cap * 2 if v.cap else 8
    if cap < size:
        cap = size
    data = <Order*>realloc(v.data, cap * sizeof(Order))
    if data == NULL:
        raise MemoryError()
    v.data, v.cap = data, cap
    return 0


cdef inline int ov_push(OrderVec* v, qty_t due, qty_t release, qty_t qty, qty_t shortfall) except -1:
    ov_reserve(v, v.n + 1)
    v.data[v.n].due = due
    v.data[v.n].release = release
    v.data[v.n].qty = qty
    v.data[v.n].shortfall = shortfall
    v.n += 1
    return 0


cdef int ev_fill(EntryVec* v, list days, list qtys) except -1:
    cdef Py_ssize_t k, n = len(days)
    if len(qtys) != n:
        raise ValueError("days and quantities differ in length")
    ev_reserve(v, n)
    for k in range(n):
        v.data[k].day = days[k]
        v.data[k].qty = qtys[k]
    v.n = n
    return 0


cdef int ev_from_views(EntryVec* v, const long long[::1] days, const long long[::1] qtys) except -1:
    cdef Py_ssize_t k, n = days.shape[0]
    ev_reserve(v, n)
    for k in range(n):
        v.data[k].day = days[k]
        v.data[k].qty = qtys[k] if k < qtys.shape[0] else 0
    v.n = n
    return 0


# --- netting --------------------------------------------------------------------------

cdef inline bint same_order(const Order* a, const Order* b) noexcept nogil:
    """The same planned order as published: due, release and quantity (the shortfall is not published)."""
    return a.due == b.due and a.release == b.release and a.qty == b.qty


cdef inline long long rank_at(const Order* orders, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """How many orders before ``orders[i]`` share its due date (its rank, part of its identity)."""
    cdef Py_ssize_t t = i
    if i >= n:
        return 0
    while t > 0 and orders[t - 1].due == orders[i].due:
        t -= 1
    return i - t



cdef inline long long clamp(long long day, long long today) noexcept nogil:
    return day if day > today else today


cdef qty_t ceil_to(qty_t qty, qty_t step) noexcept nogil:
    cdef qty_t q = qty // step
    if q * step < qty:
        q += 1
    return q * step


cpdef long long eoq_qty(long long annual, double ordering_cost, double holding_per_unit):
    """Economic order quantity sqrt(2DS/H), rounded up to whole units (0 if undefined)."""
    if annual <= 0 or ordering_cost <= 0.0 or holding_per_unit <= 0.0:
        return 0
    cdef double units = sqrt(2.0 * (<double>annual / UNIT) * ordering_cost / holding_per_unit)
    if units > MAX_UNITS:
        units = MAX_UNITS
    return <long long>ceil(units) * UNIT


# --- capacity (the twin explains) ------------------------------------------------------

cdef qty_t op_min(qty_t setup, qty_t run, qty_t qty) noexcept nogil:
    cdef int128 product = <int128>run * qty
    cdef int128 minutes = product // UNIT
    if minutes * UNIT < product:
        minutes += 1
    minutes += setup
    return _MINUTES_CAP if minutes > _MINUTES_CAP else <qty_t>minutes


def op_minutes(long long setup, long long run, long long qty):
    """Micro-minutes of one operation for ``qty`` micro-units: setup plus run per unit, rounded up, capped."""
    return op_min(setup, run, qty)


cdef inline bint works_on(int mask, long long day) noexcept nogil:
    return (mask >> ((day - 1) % 7)) & 1


def works(int mask, long long day):
    """Whether a work center with weekday ``mask`` works on ``day``."""
    return bool(works_on(mask, day))


cdef int lv_reserve(LoadVec* v, Py_ssize_t size) except -1:
    cdef Py_ssize_t cap
    cdef LoadEntry* data
    if size <= v.cap:
        return 0
    cap = v.cap + v.cap // 4 + 4
    if cap < size:
        cap = size
    data = <LoadEntry*>realloc(v.data, cap * sizeof(LoadEntry))
    if data == NULL:
        raise MemoryError()
    v.data, v.cap = data, cap
    return 0


cdef inline unsigned long long mix(unsigned long long x) noexcept nogil:
    """splitmix64's finaliser: a well-spread 64-bit hash."""
    x += 0x9E3779B97F4A7C15ULL
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL
    return x ^ (x >> 31)


cdef inline unsigned long long part_sig(long long due, long long rank, qty_t share) noexcept nogil:
    return mix(mix(<unsigned long long>due * 1024ULL + <unsigned long long>rank) + <unsigned long long>share)


def load_signature(long long due, long long rank, long long share):
    """The hash one order's share on a day adds to the day's signature (the twin's ``load_signature``)."""
    return part_sig(due, rank, share)


cdef int spread_into(LoadVec* out, long long key_base, qty_t minutes, long long start, long long end,
                     int mask, long long due, long long rank) except -1:
    """Append ``minutes`` spread over the working days of the window as (key_base + day, share, signature)."""
    cdef long long day, n = 0, k = 0
    cdef qty_t share, extra
    if minutes <= 0:
        return 0
    day = start
    while day <= end:
        if works_on(mask, day):
            n += 1
        day += 1
    if n == 0:
        day = end
        if mask & 0x7F:
            day += 1
            while not works_on(mask, day):
                day += 1
        lv_reserve(out, out.n + 1)
        out.data[out.n].key = key_base + day
        out.data[out.n].minutes = minutes
        out.data[out.n].sig = part_sig(due, rank, minutes)
        out.n += 1
        return 0
    share = minutes // n
    extra = minutes - share * n
    lv_reserve(out, out.n + n)
    day = start
    while day <= end:
        if works_on(mask, day):
            out.data[out.n].key = key_base + day
            out.data[out.n].minutes = share + 1 if k < extra else share
            out.data[out.n].sig = part_sig(due, rank, out.data[out.n].minutes)
            out.n += 1
            k += 1
        day += 1
    return 0


def spread(long long minutes, long long start, long long end, int mask):
    """``minutes`` spread evenly over the working days from ``start`` to ``end``: (day, share) pairs."""
    cdef LoadVec v
    v.data = NULL; v.n = 0; v.cap = 0
    try:
        spread_into(&v, 0, minutes, start, end, mask, 0, 0)
        return [(v.data[k].key, v.data[k].minutes) for k in range(v.n)]
    finally:
        free(v.data)


def component_qty(long long parent_qty, numerator, denominator):
    """Requirement of a component for ``parent_qty`` of its parent, rounded up, capped at ``QTY_CAP``."""
    return comp_qty(parent_qty, to_int128(numerator), to_int128(denominator))


cdef int128 to_int128(object value) except? -1:
    """A non-negative Python int below 2**124 (BOM factors reach ~1e21, beyond int64)."""
    if value < 0 or value >= (1 << 124):
        raise OverflowError(f"BOM factor out of range: {value}")
    return ((<int128>(<long long>(value >> 62))) << 62) + <long long>(value & ((1 << 62) - 1))


cdef extern from *:
    """
    static inline int ms_mul64(long long a, long long b, long long* r) { return __builtin_mul_overflow(a, b, r); }
    static inline int ms_mul128(__int128 a, __int128 b, __int128* r) { return __builtin_mul_overflow(a, b, r); }
    """
    bint ms_mul64(long long a, long long b, long long* r) noexcept nogil
    bint ms_mul128(int128 a, int128 b, int128* r) noexcept nogil


@cython.cdivision(True)
cdef qty_t comp_qty(qty_t parent_qty, int128 numerator, int128 denominator) noexcept nogil:
    cdef int128 product, need
    cdef long long small, small_need
    if parent_qty <= 0:
        return 0
    if numerator <= _I64_MAX and denominator <= _I64_MAX and not ms_mul64(
            parent_qty, <long long>numerator, &small):  # factors reduced at set-up: most fit in 64 bits
        small_need = small // <long long>denominator
        if small_need * <long long>denominator < small:
            small_need += 1
        return _QTY_CAP if small_need > _QTY_CAP else small_need
    if ms_mul128(<int128>parent_qty, numerator, &product):
        return _QTY_CAP  # far beyond the cap anyway: the denominator is below 2**71
    need = product // denominator
    if need * denominator < product:
        need += 1
    if need > _QTY_CAP:
        return _QTY_CAP
    return <qty_t>need


cdef qty_t lowest_balance(qty_t balance, long long end, long long today, Py_ssize_t i, Py_ssize_t j,
                          const Entry* req, Py_ssize_t nr, const Entry* rcp, Py_ssize_t nc) noexcept nogil:
    """Lowest end-of-day balance (without a new order) before day ``end``."""
    cdef qty_t lowest = balance
    cdef long long day, day_r, day_c
    while True:
        day_r = clamp(req[i].day, today) if i < nr else end
        day_c = clamp(rcp[j].day, today) if j < nc else end
        day = day_r if day_r < day_c else day_c
        if day >= end:
            return lowest
        while j < nc and clamp(rcp[j].day, today) == day:
            balance += rcp[j].qty
            j += 1
        while i < nr and clamp(req[i].day, today) == day:
            balance -= req[i].qty
            i += 1
        if balance < lowest:
            lowest = balance


cdef int net_core(long long today, qty_t on_hand, qty_t safety_stock, long long lead_time, int rule,
                  qty_t fixed_qty, qty_t min_qty, qty_t max_qty, qty_t multiple, long long period_days,
                  double ordering_cost, double holding_per_unit,
                  const Entry* req, Py_ssize_t nr, const Entry* rcp, Py_ssize_t nc, OrderVec* out,
                  const Order* old, Py_ssize_t nold, qty_t moved, long long start_from, long long settle_from,
                  Py_ssize_t* head, Py_ssize_t* tail) except -1:
    """Planned orders into ``out``; see the twin's ``net_item`` for the rules.

    With the previous plan ``old`` (netted on the same day, with the same parameters and receipts, and
    requirements that differ by ``-moved`` plus the stock's change, all of it on days from ``start_from``
    up to ``settle_from``), the orders due before ``start_from`` are the old ones (``head`` of them,
    copied: nothing before that day changed, and no order before it looks ahead to it) and netting starts
    there, from the balance the inputs and those orders give; it stops at the first day from
    ``settle_from`` on whose closing balance is the old one: from the same balance and the same
    requirements the rest of the plan is the old one. ``out`` then holds the orders up to that day and
    ``tail`` the index in ``old`` of the first one after (-1: netted to the end). The balance differs from
    the old one by ``moved`` plus what the new orders so far add beyond the old ones, so no old balance is
    kept.
    """
    cdef Py_ssize_t i = 0, j = 0, k, o = 0, first
    cdef qty_t balance = on_hand, net, short, size, cover, qty, chunk, annual = 0, eoq = 0, supply
    cdef long long day = today, next_day, dated
    out.n = 0
    head[0] = 0
    tail[0] = -1
    if old != NULL and start_from > today:
        while j < nc and clamp(rcp[j].day, today) < start_from:
            balance += rcp[j].qty
            j += 1
        while i < nr and clamp(req[i].day, today) < start_from:
            balance -= req[i].qty
            i += 1
        while o < nold and old[o].due < start_from:
            balance += old[o].qty
            o += 1
        ov_reserve(out, o)
        memcpy(out.data, old, o * sizeof(Order))
        out.n = head[0] = o
        day = start_from   # not a day with inputs, or its balance before them is at safety stock: as it was
    if rule == _EOQ:
        for k in range(nr):
            if req[k].day < today + YEAR_DAYS:
                annual += req[k].qty
        eoq = eoq_qty(annual, ordering_cost, holding_per_unit)
    while True:
        while j < nc and clamp(rcp[j].day, today) == day:
            balance += rcp[j].qty
            j += 1
        first, supply = i, balance
        while i < nr and clamp(req[i].day, today) == day:
            balance -= req[i].qty
            i += 1
        if balance < safety_stock:
            net = safety_stock - balance
            short = -balance if balance < 0 else 0
            dated = day if day > today else overdue_day(supply, safety_stock, req, first, i, today)
            if rule == _MIN_MULTIPLE:
                qty = net if net > min_qty else min_qty
                if multiple > 0:
                    qty = ceil_to(qty, multiple)
                if max_qty > 0 and qty > max_qty:
                    chunk = (max_qty // multiple) * multiple if multiple > 0 else max_qty
                    if chunk <= 0:
                        chunk = max_qty
                    if qty > chunk * _MAX_SPLIT:   # see the twin's _min_multiple
                        chunk = ceil_to((qty + _MAX_SPLIT - 1) // _MAX_SPLIT, multiple if multiple > 0 else 1)
                    while qty > chunk:
                        cover = short if short < chunk else chunk
                        ov_push(out, dated, dated - lead_time, chunk, cover)
                        short -= cover
                        balance += chunk
                        moved += chunk
                        qty -= chunk
                size = qty
            elif rule == _FIXED and fixed_qty > 0:
                size = ceil_to(net, fixed_qty)
            elif rule == _PERIOD and period_days > 1:
                size = safety_stock - lowest_balance(balance, day + period_days, today, i, j, req, nr, rcp, nc)
            elif rule == _EOQ:
                size = net if net > eoq else eoq
            else:
                size = net
            cover = short if short < size else size
            ov_push(out, dated, dated - lead_time, size, cover)
            balance += size
            moved += size
        if old != NULL and day >= settle_from:
            while o < nold and old[o].due <= day:
                moved -= old[o].qty
                o += 1
            if moved == 0:   # the old closing balance: the old plan from here on
                tail[0] = o
                return 0
        if i < nr:
            next_day = clamp(req[i].day, today)
            if j < nc and clamp(rcp[j].day, today) < next_day:
                next_day = clamp(rcp[j].day, today)
        elif j < nc:
            next_day = clamp(rcp[j].day, today)
        else:
            break
        day = next_day
    return 0


cdef long long overdue_day(qty_t balance, qty_t safety_stock, const Entry* req, Py_ssize_t first, Py_ssize_t end,
                         long long today) noexcept nogil:
    """The date of today's planned orders: the day of the first of requirements ``first:end`` (today's,
    overdue ones among them) that takes ``balance`` below safety stock; today if none does."""
    cdef Py_ssize_t k
    for k in range(first, end):
        balance -= req[k].qty
        if balance < safety_stock:
            return req[k].day
    return today


cdef int need_core(long long today, qty_t on_hand, qty_t safety_stock, const Entry* req, Py_ssize_t nr,
                   const Entry* rcp, Py_ssize_t nc, long long* out, bint exact=False) noexcept nogil:
    """For each receipt (in due order), the first day it is needed; -1 if never (``exact``: the twin's)."""
    cdef Py_ssize_t i = 0, k, start
    cdef qty_t supply = on_hand, cumulative = 0, before
    cdef long long current = today, found
    # short of safety stock before any requirement: needed at once, since the first overdue requirement if any
    cdef long long reported = req[0].day if nr and req[0].day < today else today
    for k in range(nc):
        if supply - cumulative < safety_stock:
            out[k] = reported if exact else current
        else:
            found = -1
            while i < nr:
                current = clamp(req[i].day, today)
                start, before = i, cumulative
                while i < nr and clamp(req[i].day, today) == current:
                    cumulative += req[i].qty
                    i += 1
                if supply - cumulative < safety_stock:
                    found = current
                    if exact and current == today:   # the overdue requirement the balance first fails
                        found = overdue_day(supply - before, safety_stock, req, start, i, today)
                    break
            reported = found if found >= 0 else current
            out[k] = found
        supply += rcp[k].qty
    return 0


def net_item(long long today, long long on_hand, long long safety_stock, long long lead_time,
             int rule, long long fixed_qty, long long min_qty, long long max_qty, long long multiple,
             long long period_days, double ordering_cost, double holding_per_unit,
             const long long[::1] req_day, const long long[::1] req_qty,
             const long long[::1] rcp_day, const long long[::1] rcp_qty):
    """Planned orders as (due, release, qty, short) tuples; see the twin for the rules."""
    cdef Py_ssize_t head, tail
    cdef EntryVec req, rcp
    cdef OrderVec out
    cdef Py_ssize_t k
    req.data = NULL; req.n = 0; req.cap = 0
    rcp.data = NULL; rcp.n = 0; rcp.cap = 0
    out.data = NULL; out.n = 0; out.cap = 0
    try:
        ev_from_views(&req, req_day, req_qty)
        ev_from_views(&rcp, rcp_day, rcp_qty)
        net_core(today, on_hand, safety_stock, lead_time, rule, fixed_qty, min_qty, max_qty, multiple,
                 period_days, ordering_cost, holding_per_unit, req.data, req.n, rcp.data, rcp.n, &out,
                 NULL, 0, 0, 0, 0, &head, &tail)
        return [(out.data[k].due, out.data[k].release, out.data[k].qty, out.data[k].shortfall) for k in range(out.n)]
    finally:
        free(req.data)
        free(rcp.data)
        free(out.data)


def need_days(long long today, long long on_hand, long long safety_stock,
              const long long[::1] req_day, const long long[::1] req_qty, const long long[::1] rcp_qty,
              bint exact=False):
    """For each receipt (in due order), the first day it is needed; -1 if never (``exact``: the twin's)."""
    cdef EntryVec req, rcp
    cdef Py_ssize_t k
    cdef long long* out = NULL
    req.data = NULL; req.n = 0; req.cap = 0
    rcp.data = NULL; rcp.n = 0; rcp.cap = 0
    try:
        ev_from_views(&req, req_day, req_qty)
        ev_from_views(&rcp, rcp_qty, rcp_qty)  # only the quantities of receipts matter here
        out = <long long*>malloc((rcp.n + 1) * sizeof(long long))
        if out == NULL:
            raise MemoryError()
        need_core(today, on_hand, safety_stock, req.data, req.n, rcp.data, rcp.n, out, exact)
        return [out[k] for k in range(rcp.n)]
    finally:
        free(req.data)
        free(rcp.data)
        free(out)


# --- per-item state ---------------------------------------------------------------------

cdef class ItemNode:
    """Planning state of one item in C arrays; the twin's ``ItemNode`` explains the model."""

    def __cinit__(self, str name):
        self.name = name
        self.comps = []
        self.load_full_ = True
        self.net_full = True
        self.dep_first, self.dep_last = _NO_DAY, -_NO_DAY
        self.msg_moved = True
        self.label = json_text(name)
        utf8 = name.encode()
        self.key_utf8 = self.label if self.label == utf8 else utf8   # most ids need no escaping: one object

    def __dealloc__(self):
        free(self.own.data)
        free(self.dep.data)
        free(self.rcp.data)
        free(self.firm.data)
        free(self.passed.data)
        free(self.planned_.data)
        free(self.needs_)
        free(self.nums)
        free(self.dens)
        free(self.load_.data)
        free(self.pend_out.data)
        free(self.pend_in.data)
        free(self.op_wc)
        free(self.op_setup)
        free(self.op_run)

    # --- copies (what-if runs on a deep copy of the engine) ---------------------------------

    def __reduce__(self):
        return (ItemNode, (self.name,), self.__getstate__())

    def __getstate__(self):
        params = (self.safety_stock, self.lead_time, self.rule, self.fixed_qty, self.min_qty, self.max_qty,
                  self.multiple, self.period_days, self.ordering_cost, self.holding)
        lines = ([from_int128(self.nums[k]) for k in range(self.nlines)],
                 [from_int128(self.dens[k]) for k in range(self.nlines)])
        ops = ([self.op_wc[k] for k in range(self.nops)], [self.op_setup[k] for k in range(self.nops)],
               [self.op_run[k] for k in range(self.nops)])
        return (params, self.on_hand, self.phantom, self.today_, _entries(&self.own), _entries(&self.dep),
                _entries(&self.rcp), _entries(&self.firm), _entries(&self.passed), self.planned(), self.comps, lines,
                self.make, ops, [(self.load_.data[k].key, self.load_.data[k].minutes, self.load_.data[k].sig)
                                 for k in range(self.load_.n)], (self.level, self.watch, self.always, self.pending))

    def __setstate__(self, state):
        (params, self.on_hand, phantom, self.today_, own, dep, rcp, firm, passed, planned, comps, lines, make, ops,
         load, (self.level, self.watch, self.always, self.pending)) = state
        self.make = make
        self.set_ops(*ops)
        lv_reserve(&self.load_, len(load))
        for k, (key, minutes, sig) in enumerate(load):
            self.load_.data[k].key, self.load_.data[k].minutes, self.load_.data[k].sig = key, minutes, sig
        self.load_.n = len(load)
        self.load_full_ = True   # what changed since the last load_update is not kept: recompute it all
        self.set_params(*params)
        _fill_pairs(&self.own, own)
        _fill_pairs(&self.dep, dep)
        _fill_pairs(&self.rcp, rcp)
        _fill_pairs(&self.firm, firm)
        _fill_pairs(&self.passed, passed)
        self.planned_.n = 0
        for due, release, qty, shortfall in planned:
            ov_push(&self.planned_, due, release, qty, shortfall)
        self._set_lines(comps, lines[0], lines[1])
        self.phantom = phantom
        self.net_full = True   # what the plan was netted from is not kept: net it whole next time

    # --- inputs ------------------------------------------------------------------------

    def set_params(self, long long safety_stock, long long lead_time, int rule, long long fixed_qty,
                   long long min_qty, long long max_qty, long long multiple, long long period_days,
                   double ordering_cost, double holding):
        if (safety_stock, lead_time, rule, fixed_qty, min_qty, max_qty, multiple, period_days, ordering_cost,
                holding) != (self.safety_stock, self.lead_time, self.rule, self.fixed_qty, self.min_qty,
                             self.max_qty, self.multiple, self.period_days, self.ordering_cost, self.holding):
            self.net_full = True
        self.safety_stock, self.lead_time, self.rule = safety_stock, lead_time, rule
        self.fixed_qty, self.min_qty, self.max_qty, self.multiple = fixed_qty, min_qty, max_qty, multiple
        self.period_days, self.ordering_cost, self.holding = period_days, ordering_cost, holding

    def set_own(self, list days, list qtys):
        ev_fill(&self.own, days, qtys)
        self.net_full = True

    def set_receipts(self, list days, list qtys):
        ev_fill(&self.rcp, days, qtys)
        self.msg_moved = True
        self.net_full = True

    cpdef add_dep(self, long long day, long long qty):
        self._add_dep(day, qty)

    cdef int _add_dep(self, long long day, qty_t qty) except -1:
        cdef Py_ssize_t lo = 0, hi = self.dep.n, mid
        cdef Entry* data = self.dep.data
        self.dep_moved += qty
        if day > self.dep_last:
            self.dep_last = day
        if day < self.dep_first:
            self.dep_first = day
        while lo < hi:
            mid = (lo + hi) >> 1
            if data[mid].day < day:
                lo = mid + 1
            else:
                hi = mid
        if lo < self.dep.n and data[lo].day == day:
            data[lo].qty += qty
            if data[lo].qty == 0:
                memmove(&data[lo], &data[lo + 1], (self.dep.n - lo - 1) * sizeof(Entry))
                self.dep.n -= 1
        elif qty != 0:
            ev_reserve(&self.dep, self.dep.n + 1)
            data = self.dep.data
            memmove(&data[lo + 1], &data[lo], (self.dep.n - lo) * sizeof(Entry))
            data[lo].day = day
            data[lo].qty = qty
            self.dep.n += 1
        return 0

    def set_firm(self, list days, list qtys):
        cdef EntryVec new
        cdef list touched = []
        new.data = NULL; new.n = 0; new.cap = 0
        ev_fill(&new, days, qtys)
        _next_stamp()
        try:
            self._diff_entries(self.firm.data, self.firm.n, new.data, new.n, touched)
            self._flush()
        except BaseException:
            free(new.data)
            raise
        free(self.firm.data)
        self.firm = new
        return touched

    def set_bom(self, list components, list numerators, list denominators, bint phantom):
        cdef list touched = []
        _next_stamp()
        self._explode_orders(self.planned_.data, self.planned_.n, -1, touched)
        self._explode(self.firm.data, self.firm.n, -1, touched)
        self._explode(self.passed.data, self.passed.n, -1, touched)
        self._flush()
        self.passed.n = 0
        self._set_lines(components, numerators, denominators)
        self.phantom = phantom
        self.net_full = True
        self._explode_orders(self.planned_.data, self.planned_.n, 1, touched)
        self._explode(self.firm.data, self.firm.n, 1, touched)
        self._flush()
        return touched

    cdef int _set_lines(self, list components, list numerators, list denominators) except -1:
        cdef Py_ssize_t k, n = len(components)
        cdef int128* nums
        cdef int128* dens
        if len(numerators) != n or len(denominators) != n:
            raise ValueError("components, numerators and denominators differ in length")
        nums = <int128*>realloc(self.nums, (n + 1) * sizeof(int128))
        if nums == NULL:
            raise MemoryError()
        self.nums = nums
        dens = <int128*>realloc(self.dens, (n + 1) * sizeof(int128))
        if dens == NULL:
            raise MemoryError()
        self.dens = dens
        for k in range(n):
            if not isinstance(components[k], ItemNode):
                raise TypeError("components must be ItemNode objects")
            if denominators[k] <= 0:
                raise ValueError("a BOM line's denominator must be positive")
            common = gcd(numerators[k], denominators[k]) or 1  # the same factor, in the fewest bits
            self.nums[k] = to_int128(numerators[k] // common)
            self.dens[k] = to_int128(denominators[k] // common)
        self.comps = list(components)
        self.nlines = n
        return 0

    # --- planning ----------------------------------------------------------------------

    cdef int _build_gross(self) except -1:
        """Own and dependent requirements merged into day totals (both sorted by day), at ``_gp``/``_gn``.

        Dependent totals are kept merged by day and never zero: without own requirements they are the
        gross requirements as they stand, read in place.
        """
        cdef Py_ssize_t i = 0, j = 0, n = 0
        global _gp, _gn
        if self.own.n == 0:
            _gp, _gn = self.dep.data, self.dep.n
            return 0
        cdef long long day
        cdef qty_t qty
        cdef Entry* own = self.own.data
        cdef Entry* dep = self.dep.data
        ev_reserve(&_gross, self.own.n + self.dep.n)
        cdef Entry* out = _gross.data
        while i < self.own.n or j < self.dep.n:
            if j >= self.dep.n or (i < self.own.n and own[i].day <= dep[j].day):
                day, qty = own[i].day, own[i].qty
                i += 1
            else:
                day, qty = dep[j].day, dep[j].qty
                j += 1
            if n and out[n - 1].day == day:
                out[n - 1].qty += qty
                if out[n - 1].qty == 0:
                    n -= 1
            elif qty != 0:
                out[n].day = day
                out[n].qty = qty
                n += 1
        _gross.n = n
        _gp, _gn = _gross.data, n
        return 0

    def gross(self):
        self._build_gross()
        return [(_gp[k].day, _gp[k].qty) for k in range(_gn)]

    def replan(self, long long today, PlanStamp stamp=None):
        """Net again; the changed planned orders (encoded as records with a ``stamp``), and touched components."""
        cdef list changes = [], touched = []
        self._replan(today, stamp, changes, touched)
        return changes, touched

    cdef int _replan(self, long long today, PlanStamp stamp, list changes, list touched) except -1:
        """``replan``, appending to the caller's lists (the cascade's own, without a tuple and two lists per
        node)."""
        cdef Order* data
        cdef Py_ssize_t head = 0, tail = -1, same_tail = 0
        cdef long long start = today
        cdef bint settle
        self._build_gross()
        _scratch.n = 0
        if not self.phantom:
            # only the stock and dependent requirements changed since a re-net on this day: netting may stop
            # where the balance is the old one again (EOQ sizes from the year's total: not then)
            settle = not self.net_full and today == self.today_ and self.rule != _EOQ
            if settle and self.on_hand == self.net_on_hand and self.dep_first != _NO_DAY:
                # only requirements from dep_first on changed: the plan before it stands (a period's order
                # looks ahead a period)
                start = self.dep_first - (self.period_days if self.rule == _PERIOD else 0)
            net_core(today, self.on_hand, self.safety_stock, self.lead_time, self.rule, self.fixed_qty,
                     self.min_qty, self.max_qty, self.multiple, self.period_days, self.ordering_cost,
                     self.holding, _gp, _gn, self.rcp.data, self.rcp.n, &_scratch,
                     self.planned_.data if settle else NULL, self.planned_.n,
                     (self.on_hand - self.net_on_hand) - self.dep_moved, start,
                     self.dep_last if self.dep_last > today else today, &head, &tail)
            if tail >= 0:   # the old orders from there on, the same in every field: compared no further
                same_tail = self.planned_.n - tail
                ov_reserve(&_scratch, _scratch.n + same_tail)
                memcpy(&_scratch.data[_scratch.n], &self.planned_.data[tail], same_tail * sizeof(Order))
                _scratch.n += same_tail
        self.net_full = False
        self.net_on_hand = self.on_hand
        self.dep_moved = 0
        self.dep_first, self.dep_last = _NO_DAY, -_NO_DAY
        self._changes(today, stamp, changes, head, same_tail)
        self._note_messages(today)
        _next_stamp()
        if self.nlines:
            self._diff_orders(touched, head, same_tail)
        if self.phantom:
            self._diff_entries(self.passed.data, self.passed.n, _gp, _gn, touched)
            ev_reserve(&self.passed, _gn)
            memmove(self.passed.data, _gp, _gn * sizeof(Entry))
            self.passed.n = _gn
        self._flush()
        if self.nops and not self.load_full_:
            self._note_load_changes()
        if _scratch.n != self.planned_.cap:  # exact size: plans are the bulk of a site's memory
            data = <Order*>realloc(self.planned_.data, (_scratch.n if _scratch.n else 1) * sizeof(Order))
            if data == NULL:
                raise MemoryError()
            self.planned_.data, self.planned_.cap = data, _scratch.n
        memcpy(self.planned_.data, _scratch.data, _scratch.n * sizeof(Order))
        self.planned_.n = _scratch.n
        self.today_ = today
        return 0

    cdef int _changes(self, long long today, PlanStamp stamp, list out, Py_ssize_t same_head,
                      Py_ssize_t same_tail) except -1:
        """Planned orders to publish, matched by identity (due, rank within the due date), onto ``out``; the
        first ``same_head`` and last ``same_tail`` orders are known to be the old ones (a re-net on the same
        day that started late or settled early)."""
        cdef Order* old = self.planned_.data
        cdef Order* new = _scratch.data
        cdef Py_ssize_t i = same_head, j = 0, no = self.planned_.n - same_tail, nn = _scratch.n - same_tail
        cdef long long ri = 0, rj = 0, old_today = self.today_
        cdef int side
        if old_today == today:
            # on the same day an order whose date and quantity stand publishes nothing: skip the unchanged
            # head and tail (a scan mostly moves one order of a long plan), then rank the first left
            while i < no and i < nn and same_order(&old[i], &new[i]):
                i += 1
            while no > i and nn > i and same_order(&old[no - 1], &new[nn - 1]):
                no -= 1
                nn -= 1
            # a tail keeps its (due, rank) identity only if its first due differs from what precedes it
            while no < self.planned_.n and ((no and old[no - 1].due == old[no].due)
                                             or (nn and new[nn - 1].due == new[nn].due)):
                no += 1
                nn += 1
            ri = rank_at(old, i, no)
            j = i
            rj = rank_at(new, j, nn)
        while i < no or j < nn:
            if j >= nn:
                side = -1
            elif i >= no:
                side = 1
            elif old[i].due != new[j].due:
                side = -1 if old[i].due < new[j].due else 1
            else:
                side = -1 if ri < rj else (1 if rj < ri else 0)
            if side < 0:
                self._emit(out, stamp, old[i].due, ri, old[i].release, old[i].qty, old[i].release < old_today, True)
                i += 1
                ri = ri + 1 if i < no and old[i].due == old[i - 1].due else 0
            elif side > 0:
                self._emit(out, stamp, new[j].due, rj, new[j].release, new[j].qty, new[j].release < today, False)
                j += 1
                rj = rj + 1 if j < nn and new[j].due == new[j - 1].due else 0
            else:
                if (old[i].release != new[j].release or old[i].qty != new[j].qty
                        or (old[i].release < old_today) != (new[j].release < today)):
                    self._emit(out, stamp, new[j].due, rj, new[j].release, new[j].qty, new[j].release < today,
                               False)
                i += 1
                ri = ri + 1 if i < no and old[i].due == old[i - 1].due else 0
                j += 1
                rj = rj + 1 if j < nn and new[j].due == new[j - 1].due else 0
        return 0

    cdef int _note_messages(self, long long today) except -1:
        """Note in ``msg_moved`` whether this re-net moved what the item's exception messages derive from:
        the day each receipt is needed and the past-due orders (a new day moves them all)."""
        cdef const Order* old = self.planned_.data
        cdef const Order* new = _scratch.data
        cdef Py_ssize_t no = 0, nn = 0
        cdef long long* needs
        if today != self.today_:
            self.msg_moved = True
        else:
            while no < self.planned_.n and old[no].release < today:
                no += 1
            while nn < _scratch.n and new[nn].release < today:
                nn += 1
            if no != nn or memcmp(old, new, no * sizeof(Order)) != 0:
                self.msg_moved = True
        if self.rcp.n != self.nneeds:
            needs = <long long*>realloc(self.needs_, (self.rcp.n if self.rcp.n else 1) * sizeof(long long))
            if needs == NULL:
                raise MemoryError()
            self.needs_, self.nneeds = needs, self.rcp.n
            self.msg_moved = True
        if self.rcp.n:
            if _needs_cap < self.rcp.n:
                _reserve_needs(self.rcp.n)
            # exact: a message suggests an overdue need's own date, so that date moving moves the message
            need_core(today, self.on_hand, self.safety_stock, _gp, _gn, self.rcp.data, self.rcp.n, _needs, True)
            if memcmp(_needs, self.needs_, self.rcp.n * sizeof(long long)) != 0:
                memcpy(self.needs_, _needs, self.rcp.n * sizeof(long long))
                self.msg_moved = True
        return 0

    cdef int _emit(self, list out, PlanStamp stamp, long long due, long long rank, long long release, qty_t qty,
                   bint past_due, bint deleted) except -1:
        """One change: a tuple, or with a stamp the encoded record (the twin's ``encode_change``), or with a
        quiet one nothing."""
        if stamp is None:
            out.append((due, rank, release, qty, past_due, deleted))
        elif not stamp.quiet:
            out.append(_encode_change(self, stamp, due, rank, release, qty, past_due, deleted))
        return 0

    def day_stable(self, long long today):
        """Re-netting on the new day ``today`` would change nothing (the twin says why)."""
        if self.today_ == 0 or self.rule == _EOQ or self.on_hand < self.safety_stock:
            return False
        if (self.own.n and self.own.data[0].day <= today) or (self.dep.n and self.dep.data[0].day <= today):
            return False
        if self.rcp.n and self.rcp.data[0].day <= today:
            return False
        return self.planned_.n == 0 or (self.planned_.data[0].due > today and self.planned_.data[0].release >= today)

    # --- capacity --------------------------------------------------------------------------

    def set_ops(self, list work_centers, list setups, list runs):
        """The operations a planned order of this item loads: work center id, setup, run per unit (micro-min)."""
        cdef Py_ssize_t k, n = len(work_centers)
        if len(setups) != n or len(runs) != n:
            raise ValueError("work centers, setups and runs differ in length")
        cdef long long* wc = <long long*>realloc(self.op_wc, (n + 1) * sizeof(long long))
        if wc == NULL:
            raise MemoryError()
        self.op_wc = wc
        cdef qty_t* setup = <qty_t*>realloc(self.op_setup, (n + 1) * sizeof(qty_t))
        if setup == NULL:
            raise MemoryError()
        self.op_setup = setup
        cdef qty_t* run = <qty_t*>realloc(self.op_run, (n + 1) * sizeof(qty_t))
        if run == NULL:
            raise MemoryError()
        self.op_run = run
        for k in range(n):
            if work_centers[k] < 0 or work_centers[k] >= (1 << 31):
                raise ValueError(f"work center id out of range: {work_centers[k]}")
            self.op_wc[k], self.op_setup[k], self.op_run[k] = work_centers[k], setups[k], runs[k]
        self.nops = n
        self.load_full_ = True

    def load_update(self, long long today, bytes masks):
        """Load the planned orders put on work centers now, as (center, day, change) against the last call.

        A day whose minutes stay but whose orders changed (one moved in, another out, or an id changed)
        is listed too, with a change of 0: its signature differs.
        """
        cdef Py_ssize_t k, o, i = 0, j = 0, n = 0
        cdef Py_ssize_t nm = PyBytes_GET_SIZE(masks)
        cdef const unsigned char* mask = <const unsigned char*>PyBytes_AS_STRING(masks)
        cdef long long start, end, rank = 0
        cdef Order* p = self.planned_.data
        cdef LoadEntry* new
        cdef LoadEntry* old
        cdef list changes = []
        for o in range(self.nops):
            if self.op_wc[o] >= nm:
                raise IndexError(f"work center {self.op_wc[o]} has no calendar")
        if not self.load_full_ and today == self.load_today_:
            return self._apply_load_delta(today, mask)
        self.pend_out.n = self.pend_in.n = 0
        self.load_full_ = False
        self.load_today_ = today
        _loadv.n = 0
        if self.nops:
            for k in range(self.planned_.n):
                rank = rank + 1 if k and p[k].due == p[k - 1].due else 0
                start = clamp(p[k].release, today)
                end = p[k].due - 1 if p[k].due - 1 > start else start
                for o in range(self.nops):
                    spread_into(&_loadv, self.op_wc[o] << 32, op_min(self.op_setup[o], self.op_run[o], p[k].qty),
                                start, end, mask[self.op_wc[o]], p[k].due, rank)
        new = _loadv.data
        if _loadv.n > 1:
            qsort(new, _loadv.n, sizeof(LoadEntry), _by_key)
            for k in range(1, _loadv.n):   # one total per (center, day)
                if new[k].key == new[n].key:
                    new[n].minutes += new[k].minutes
                    new[n].sig += new[k].sig
                else:
                    n += 1
                    new[n] = new[k]
            _loadv.n = n + 1
        old = self.load_.data
        while i < self.load_.n or j < _loadv.n:
            if j >= _loadv.n or (i < self.load_.n and old[i].key < new[j].key):
                changes.append((old[i].key >> 32, old[i].key & 0xFFFFFFFF, -old[i].minutes))
                i += 1
            elif i >= self.load_.n or new[j].key < old[i].key:
                changes.append((new[j].key >> 32, new[j].key & 0xFFFFFFFF, new[j].minutes))
                j += 1
            else:
                if old[i].minutes != new[j].minutes or old[i].sig != new[j].sig:
                    changes.append((new[j].key >> 32, new[j].key & 0xFFFFFFFF, new[j].minutes - old[i].minutes))
                i += 1
                j += 1
        lv_reserve(&self.load_, _loadv.n)
        memcpy(self.load_.data, new, _loadv.n * sizeof(LoadEntry))
        self.load_.n = _loadv.n
        return changes

    cdef int _note_load_changes(self) except -1:
        """Keep the planned orders this re-plan changed (old ones out, new ones in) for the next load_update."""
        cdef Order* old = self.planned_.data
        cdef Order* new = _scratch.data
        cdef Py_ssize_t i = 0, j = 0, no = self.planned_.n, nn = _scratch.n
        cdef long long ri = 0, rj = 0
        cdef int side
        cdef bint same
        while i < no or j < nn:
            if j >= nn:
                side = -1
            elif i >= no:
                side = 1
            elif old[i].due != new[j].due:
                side = -1 if old[i].due < new[j].due else 1
            else:
                side = -1 if ri < rj else (1 if rj < ri else 0)
            same = side == 0 and old[i].release == new[j].release and old[i].qty == new[j].qty
            if side <= 0 and not same:
                ov_push(&self.pend_out, old[i].due, old[i].release, old[i].qty, ri)
            if side >= 0 and not same:
                ov_push(&self.pend_in, new[j].due, new[j].release, new[j].qty, rj)
            if side <= 0:
                i += 1
                ri = ri + 1 if i < no and old[i].due == old[i - 1].due else 0
            if side >= 0:
                j += 1
                rj = rj + 1 if j < nn and new[j].due == new[j - 1].due else 0
        return 0

    cdef object _apply_load_delta(self, long long today, const unsigned char* mask):
        """The incremental load_update: spread only the changed orders, out and in, and merge the difference."""
        cdef Py_ssize_t k, o, i = 0, j = 0, n = 0, start_n
        cdef long long start, end
        cdef Order* p
        cdef OrderVec* side
        cdef LoadEntry* d
        cdef LoadEntry* old
        cdef LoadEntry* out
        cdef list changes = []
        cdef int sign
        _loadv.n = 0
        for sign in (-1, 1):
            side = &self.pend_out if sign < 0 else &self.pend_in
            p = side.data
            for k in range(side.n):
                start = clamp(p[k].release, today)
                end = p[k].due - 1 if p[k].due - 1 > start else start
                for o in range(self.nops):
                    start_n = _loadv.n
                    spread_into(&_loadv, self.op_wc[o] << 32, op_min(self.op_setup[o], self.op_run[o], p[k].qty),
                                start, end, mask[self.op_wc[o]], p[k].due, p[k].shortfall)
                    if sign < 0:
                        for i in range(start_n, _loadv.n):
                            _loadv.data[i].minutes = -_loadv.data[i].minutes
                            _loadv.data[i].sig = 0 - _loadv.data[i].sig
        self.pend_out.n = self.pend_in.n = 0
        if _loadv.n == 0:
            return changes
        d = _loadv.data
        qsort(d, _loadv.n, sizeof(LoadEntry), _by_key)
        for k in range(1, _loadv.n):   # one difference per (center, day)
            if d[k].key == d[n].key:
                d[n].minutes += d[k].minutes
                d[n].sig += d[k].sig
            else:
                n += 1
                d[n] = d[k]
        n += 1
        # merge the differences into the load (into _merged's room, then back)
        lv_reserve(&_merged_load, self.load_.n + n)
        old, out = self.load_.data, _merged_load.data
        i = j = k = 0
        while i < self.load_.n or j < n:
            if j >= n or (i < self.load_.n and old[i].key < d[j].key):
                out[k] = old[i]
                i += 1
                k += 1
                continue
            if d[j].minutes == 0 and d[j].sig == 0:   # came and went between two updates
                if i < self.load_.n and old[i].key == d[j].key:
                    out[k] = old[i]
                    i += 1
                    k += 1
                j += 1
                continue
            changes.append((d[j].key >> 32, d[j].key & 0xFFFFFFFF, d[j].minutes))
            if i < self.load_.n and old[i].key == d[j].key:
                out[k].key, out[k].minutes, out[k].sig = d[j].key, old[i].minutes + d[j].minutes, old[i].sig + d[j].sig
                i += 1
            else:
                out[k] = d[j]
            j += 1
            if out[k].minutes != 0 or out[k].sig != 0:
                k += 1
        lv_reserve(&self.load_, k)
        memcpy(self.load_.data, out, k * sizeof(LoadEntry))
        self.load_.n = k
        return changes

    def load_on(self, long long center, long long day):
        """Micro-minutes the planned orders put on ``center`` on ``day`` (as of the last ``load_update``)."""
        cdef long long key = (center << 32) | day
        cdef Py_ssize_t lo = 0, hi = self.load_.n, mid
        while lo < hi:
            mid = (lo + hi) >> 1
            if self.load_.data[mid].key < key:
                lo = mid + 1
            else:
                hi = mid
        return self.load_.data[lo].minutes if lo < self.load_.n and self.load_.data[lo].key == key else 0

    def load_parts(self, long long center, long long day, long long today, bytes masks):
        """(due, rank, micro-minutes) of each planned order loading ``center`` on ``day``: who makes the load."""
        cdef Py_ssize_t k, o, e
        cdef long long start, end, rank = 0
        cdef qty_t minutes
        cdef Order* p = self.planned_.data
        cdef LoadVec parts
        cdef list out = []
        if center < 0 or center >= PyBytes_GET_SIZE(masks):
            raise IndexError(f"work center {center} has no calendar")
        cdef int mask = (<const unsigned char*>PyBytes_AS_STRING(masks))[center]
        parts.data = NULL; parts.n = 0; parts.cap = 0
        try:
            for k in range(self.planned_.n):
                rank = rank + 1 if k and p[k].due == p[k - 1].due else 0
                start = clamp(p[k].release, today)
                if start > day:
                    continue
                end = p[k].due - 1 if p[k].due - 1 > start else start
                minutes = 0
                for o in range(self.nops):
                    if self.op_wc[o] == center:
                        parts.n = 0
                        spread_into(&parts, 0, op_min(self.op_setup[o], self.op_run[o], p[k].qty), start, end, mask,
                                    0, 0)
                        for e in range(parts.n):
                            if parts.data[e].key == day:
                                minutes += parts.data[e].minutes
                if minutes:
                    out.append((p[k].due, rank, minutes))
            return out
        finally:
            free(parts.data)

    def load_entries(self):
        """The load of the planned orders as of the last ``load_update``: (center, day, micro-minutes)."""
        return [(self.load_.data[k].key >> 32, self.load_.data[k].key & 0xFFFFFFFF, self.load_.data[k].minutes)
                for k in range(self.load_.n)]

    def need_days(self, long long today, bint exact=False):
        cdef Py_ssize_t k
        cdef long long* out
        self._build_gross()
        if self.rcp.n == 0:
            return []
        out = <long long*>malloc(self.rcp.n * sizeof(long long))
        if out == NULL:
            raise MemoryError()
        need_core(today, self.on_hand, self.safety_stock, _gp, _gn,
                  self.rcp.data, self.rcp.n, out, exact)
        try:
            return [out[k] for k in range(self.rcp.n)]
        finally:
            free(out)

    def planned(self):
        cdef Order* p = self.planned_.data
        return [(p[k].due, p[k].release, p[k].qty, p[k].shortfall) for k in range(self.planned_.n)]

    def past_due(self, long long today):
        cdef Order* p = self.planned_.data
        cdef Py_ssize_t n = 0
        while n < self.planned_.n and p[n].release < today:
            n += 1
        return [(p[k].due, p[k].release, p[k].qty, p[k].shortfall) for k in range(n)]

    def released_on(self, long long day, long long today):
        """Planned orders (due, rank, release, qty) whose release (overdue: today) is ``day``."""
        cdef Order* p = self.planned_.data
        cdef list out = []
        cdef long long rank = 0
        cdef Py_ssize_t k
        for k in range(self.planned_.n):
            rank = rank + 1 if k and p[k].due == p[k - 1].due else 0
            if clamp(p[k].release, today) == day:
                out.append((p[k].due, rank, p[k].release, p[k].qty))
        return out

    def component_needs(self, ItemNode component, long long qty, str kind, str ref):
        """What ``qty`` of this item (for ``kind`` ``ref``) needs of ``component``: a (kind, ref, qty) per BOM
        line naming it."""
        cdef list out = []
        self._line_needs(out, component, qty, kind, ref)
        return out

    cdef int _line_needs(self, list out, ItemNode component, qty_t qty, str kind, str ref) except -1:
        cdef Py_ssize_t l
        for l in range(self.nlines):
            if self.comps[l] is component:
                out.append((kind, ref, comp_qty(qty, self.nums[l], self.dens[l])))
        return 0

    def released_needs(self, ItemNode component, long long day, long long today):
        """What this node's planned orders released on ``day`` (overdue: today) need of ``component``: a
        ("planned_order", planned id, qty) per order and BOM line naming it, for a shortage's hits."""
        cdef list out = []
        self._released_needs(out, component, day, today)
        return out

    cdef int _released_needs(self, list out, ItemNode component, long long day, long long today) except -1:
        cdef const Order* p = self.planned_.data
        cdef long long rank = 0
        cdef Py_ssize_t k
        cdef char suffix[40]
        cdef char* s
        if day < today or component not in self.comps:   # nodes compare by identity
            return 0
        for k in range(self.planned_.n):
            rank = rank + 1 if k and p[k].due == p[k - 1].due else 0
            if p[k].release > day:
                break   # due-sorted, released a lead time before: none after is released on the day
            if clamp(p[k].release, today) != day:
                continue
            s = put_id_suffix(suffix, p[k].due, rank)
            self._line_needs(out, component, p[k].qty, "planned_order",
                             self.name + suffix[:s - suffix].decode("ascii"))
        return 0

    def __sizeof__(self):
        return self.allocated_bytes()

    def planned_count(self):
        return self.planned_.n

    def dependent(self):
        return [(self.dep.data[k].day, self.dep.data[k].qty) for k in range(self.dep.n)]

    def memory_bytes(self):
        """Bytes of the per-item arrays in use (12 per entry, 24 per planned order)."""
        return (sizeof(Entry) * (self.own.n + self.dep.n + self.rcp.n + self.firm.n + self.passed.n)
                + sizeof(LoadEntry) * self.load_.n + sizeof(Order) * self.planned_.n + 24 * self.nops)

    def allocated_bytes(self):
        """Bytes this node holds, with spare capacity and the object itself."""
        cdef Py_ssize_t entries = self.own.cap + self.dep.cap + self.rcp.cap + self.firm.cap + self.passed.cap
        return (sizeof(ItemNode) + entries * sizeof(Entry) + self.planned_.cap * sizeof(Order)
                + self.load_.cap * sizeof(LoadEntry) + 2 * self.nlines * sizeof(int128)
                + 3 * self.nops * sizeof(long long) + self.nneeds * sizeof(long long))

    # --- explosion -----------------------------------------------------------------------

    cdef int _touch(self, ItemNode component, list touched) except -1:
        if component.stamp != _stamp:
            component.stamp = _stamp
            touched.append(component)
        return 0

    cdef int _explode_one(self, long long day, qty_t qty, int sign, list touched) except -1:
        cdef Py_ssize_t k
        cdef qty_t need
        cdef EntryVec* pending
        if self.nlines > _pending_cap:
            _reserve_pending(self.nlines)
        for k in range(self.nlines):
            need = comp_qty(qty, self.nums[k], self.dens[k])
            if need:
                pending = &_pending[k]
                if pending.n and pending.data[pending.n - 1].day == day:
                    pending.data[pending.n - 1].qty += sign * need
                else:
                    if pending.n and pending.data[pending.n - 1].day > day:
                        _unsorted[k] = True
                    ev_reserve(pending, pending.n + 1)
                    pending.data[pending.n].day = day
                    pending.data[pending.n].qty = sign * need
                    pending.n += 1
                self._touch(<ItemNode>self.comps[k], touched)
        return 0

    cdef int _flush(self) except -1:
        """Merge what this call exploded into each component's dependent day totals."""
        cdef Py_ssize_t k
        for k in range(min(self.nlines, _pending_cap)):
            if _pending[k].n:
                (<ItemNode>self.comps[k])._merge_dep(&_pending[k], _unsorted[k])
                _pending[k].n = 0
                _unsorted[k] = False
        return 0

    cdef int _merge_dep(self, EntryVec* delta, bint unsorted) except -1:
        cdef Py_ssize_t i = 0, j = 0, n = 0, m
        cdef Entry* dep
        cdef Entry* add
        cdef Entry* out
        if unsorted:
            qsort(delta.data, delta.n, sizeof(Entry), _by_day)
        if delta.n * 16 < self.dep.n:  # a few changes to a long list: sorted inserts are cheaper than a pass
            for m in range(delta.n):
                self._add_dep(delta.data[m].day, delta.data[m].qty)
            return 0
        for m in range(delta.n):
            self.dep_moved += delta.data[m].qty
        if delta.n and delta.data[delta.n - 1].day > self.dep_last:   # sorted above
            self.dep_last = delta.data[delta.n - 1].day
        if delta.n and delta.data[0].day < self.dep_first:
            self.dep_first = delta.data[0].day
        ev_reserve(&_merged, self.dep.n + delta.n)
        dep, add, out = self.dep.data, delta.data, _merged.data
        while i < self.dep.n or j < delta.n:
            if j >= delta.n or (i < self.dep.n and dep[i].day < add[j].day):
                out[n] = dep[i]
                i += 1
                n += 1
                continue
            if i < self.dep.n and dep[i].day == add[j].day:
                out[n].day, out[n].qty = dep[i].day, dep[i].qty + add[j].qty
                i += 1
            else:
                out[n].day, out[n].qty = add[j].day, add[j].qty
            j += 1
            while j < delta.n and add[j].day == out[n].day:  # equal days of an unsorted batch
                out[n].qty += add[j].qty
                j += 1
            if out[n].qty != 0:
                n += 1
        ev_reserve(&self.dep, n)
        memcpy(self.dep.data, out, n * sizeof(Entry))
        self.dep.n = n
        return 0

    cdef int _explode(self, const Entry* src, Py_ssize_t n, int sign, list touched) except -1:
        cdef Py_ssize_t s
        for s in range(n):
            self._explode_one(src[s].day, src[s].qty, sign, touched)
        return 0

    cdef int _explode_orders(self, const Order* src, Py_ssize_t n, int sign, list touched) except -1:
        cdef Py_ssize_t s
        for s in range(n):
            self._explode_one(src[s].release, src[s].qty, sign, touched)
        return 0

    cdef int _diff_entries(self, const Entry* old, Py_ssize_t no, const Entry* new, Py_ssize_t nn,
                           list touched) except -1:
        """Explode the difference of two day-sorted source lists (as multisets of day and qty)."""
        cdef Py_ssize_t i = 0, j = 0
        if not self.nlines:
            return 0
        while i < no or j < nn:
            if j >= nn or (i < no and old[i].day < new[j].day):
                self._explode_one(old[i].day, old[i].qty, -1, touched)
                i += 1
            elif i >= no or new[j].day < old[i].day:
                self._explode_one(new[j].day, new[j].qty, 1, touched)
                j += 1
            else:
                if old[i].qty != new[j].qty:
                    self._explode_one(old[i].day, old[i].qty, -1, touched)
                    self._explode_one(new[j].day, new[j].qty, 1, touched)
                i += 1
                j += 1
        return 0

    cdef int _diff_orders(self, list touched, Py_ssize_t same_head, Py_ssize_t same_tail) except -1:
        """The same over the old and new planned orders, as sources (release, qty); a head and a tail known
        to be the old orders (due, so released, before and after every other) explode nothing."""
        cdef const Order* old = self.planned_.data
        cdef const Order* new = _scratch.data
        cdef Py_ssize_t i = same_head, j = same_head, no = self.planned_.n - same_tail
        cdef Py_ssize_t nn = _scratch.n - same_tail
        while i < no or j < nn:
            if j >= nn or (i < no and old[i].release < new[j].release):
                self._explode_one(old[i].release, old[i].qty, -1, touched)
                i += 1
            elif i >= no or new[j].release < old[i].release:
                self._explode_one(new[j].release, new[j].qty, 1, touched)
                j += 1
            else:
                if old[i].qty != new[j].qty:
                    self._explode_one(old[i].release, old[i].qty, -1, touched)
                    self._explode_one(new[j].release, new[j].qty, 1, touched)
                i += 1
                j += 1
        return 0


# --- a shortage's requirements (the twin's ``trace_needs`` explains it) ---------------------------

def trace_needs(dict nodes, dict parents, dict own, dict firm, str item, long long day, long long today):
    cdef list out = []
    _trace(nodes, parents, own, firm, item, day, today, out)
    out.sort()
    return out


cdef int _trace(dict nodes, dict parents, dict own, dict firm, str item, long long day, long long today,
                list out) except -1:
    cdef object found, parent, kind, ref, qty
    cdef tuple row
    cdef ItemNode component, node
    cdef list sub
    found = own.get(item)
    if found is not None:
        for row in found:
            if clamp(row[0], today) == day:
                out.append((row[2], row[3], row[1]))
    found = nodes.get(item)
    if found is None:
        return 0
    component = found
    for parent in parents.get(item, ()):
        found = nodes.get(parent)
        if found is None:
            continue
        node = found
        if node.phantom:
            sub = []
            _trace(nodes, parents, own, firm, parent, day, today, sub)
            for kind, ref, qty in sub:
                node._line_needs(out, component, qty, kind, ref)
            continue
        node._released_needs(out, component, day, today)
        found = firm.get(parent)
        if found is not None:
            for row in found:
                if clamp(row[0], today) == day:
                    node._line_needs(out, component, row[1], row[2], row[3])
    return 0


# --- the cascade (the twin's ``cascade`` explains it) ------------------------------------------

def cascade(long long today, PlanStamp stamp, list start, object load, object after, list out):
    """Re-net ``start`` and every component whose requirements change, parents first; how many were re-netted."""
    cdef list heap = []
    cdef list touched = []
    cdef ItemNode node
    cdef Py_ssize_t count = 0
    cdef long long what
    cdef object reached, changes, node_touched
    _queue(heap, start, False)
    heapify(heap)
    try:
        while heap:
            node = <ItemNode>(<tuple>heappop(heap))[2]
            node.queued = False
            if node.day_only:
                node.day_only = False
                if node.pending == 0 and node.day_stable(today):
                    continue
            count += 1
            reached = None
            if node.pending:
                what, node.pending = node.pending, 0
                reached = load(node, what)
            if type(node) is ItemNode:
                node._replan(today, stamp, out, touched)
            else:   # a subclass (the benchmark's timed node): its own replan
                changes, node_touched = node.replan(today, stamp)
                out.extend(<list>changes)
                touched.extend(<list>node_touched)
            if node.watch or (node.planned_.n and node.planned_.data[0].release < today):
                # unless the planner wants every re-net, only one that moved the messages' inputs (the twin
                # calls it after each: what it publishes then is the same, which tests compare)
                if node.always or node.msg_moved or node.msg_today != today:
                    node.msg_moved = False
                    node.msg_today = today
                    after(node)
            if reached:
                _queue(heap, <list>reached, True)
            if touched:
                _queue(heap, touched, True)
                del touched[:]
    finally:
        for entry in heap:   # an error left them waiting: a later cascade must queue them again
            node = <ItemNode>(<tuple>entry)[2]
            node.queued = node.day_only = False
    return count


cdef int _queue(list heap, list nodes, bint push) except -1:
    """Queue nodes not queued yet; their requirements change, so none is re-netted only for the day."""
    cdef ItemNode node
    for node in nodes:
        if push:
            node.day_only = False
        if not node.queued:
            node.queued = True
            if push:
                heappush(heap, (node.level, node.name, node))
            else:
                heap.append((node.level, node.name, node))
    return 0


cdef int _fill_pairs(EntryVec* v, list pairs) except -1:
    return ev_fill(v, [p[0] for p in pairs], [p[1] for p in pairs])


cdef list _entries(EntryVec* v):
    return [(v.data[k].day, v.data[k].qty) for k in range(v.n)]


cdef object from_int128(int128 value):
    return ((<long long>(value >> 62)) << 62) + <long long>(value & ((<int128>1 << 62) - 1))


cdef void _next_stamp() noexcept:
    global _stamp
    _stamp += 1


# --- encoded outputs (the twin's encode_change explains them) ---------------------------------

@cython.no_gc
cdef class PlanStamp:
    """What the planned orders published at one site and event time share, encoded once.

    A ``quiet`` stamp publishes nothing: the plan changes, no record is built (see the twin's).
    """

    def __cinit__(self, str site, object ts, bytes tail, bint quiet=False):
        self.site, self.ts, self.tail, self.quiet = site, ts, tail, quiet
        self.key_prefix = site.encode() + b"|"

    def __reduce__(self):
        return (PlanStamp, (self.site, self.ts, self.tail, self.quiet))


@cython.no_gc  # holds only strings, bytes and a datetime: no cycles, and thousands are made per event
cdef class PlannedOrderRecord:
    """One planned-order change, encoded: the output topic's key (``site|planned_id``) and JSON value."""

    tag = "planned_order"

    def __init__(self, str site, object ts, str item, bytes key, bytes value):
        self.site, self.ts, self.item, self.key, self.value = site, ts, item, key, value

    @property
    def planned_id(self):
        return self.key[len(self.site.encode()) + 1:].decode()

    def __reduce__(self):
        return (PlannedOrderRecord, (self.site, self.ts, self.item, self.key, self.value))

    def __repr__(self):
        return f"PlannedOrderRecord({self.value.decode()})"


def json_text(str text):
    """A string's JSON escaping, without the quotes (the output codec escapes the same way)."""
    if text.isascii() and text.isprintable() and '"' not in text and '\\' not in text:
        return text.encode()   # nothing to escape (most item ids): a node is made per item of a cold run
    cdef str quoted = json.dumps(text, ensure_ascii=False)
    return quoted[1:len(quoted) - 1].encode()


def encode_change(str item, bint make, PlanStamp stamp, long long due, long long rank, long long release,
                  long long qty, bint past_due, bint deleted):
    """The record of one planned-order change (``replan`` encodes its changes the same way)."""
    cdef ItemNode node = ItemNode(item)
    node.make = make
    return _encode_change(node, stamp, due, rank, release, qty, past_due, deleted)


cdef char* _out = NULL        # the value being encoded (grown to the longest seen)
cdef Py_ssize_t _out_cap = 0
cdef const char* _HEAD = b'{"type":"planned_order","planned_id":"'


cdef inline char* put(char* p, const char* src, Py_ssize_t n) noexcept nogil:
    memcpy(p, src, n)
    return p + n


cdef inline char* put_bytes(char* p, bytes src) noexcept:
    return put(p, PyBytes_AS_STRING(src), PyBytes_GET_SIZE(src))


@cython.cdivision(True)
cdef char* put_uint(char* p, unsigned long long v) noexcept nogil:
    cdef char tmp[24]
    cdef int n = 0
    while True:
        tmp[n] = <char>(48 + v % 10)
        n += 1
        v //= 10
        if v == 0:
            break
    while n:
        n -= 1
        p[0] = tmp[n]
        p += 1
    return p


@cython.cdivision(True)
cdef Py_ssize_t put_qty(char* start, long long qty) noexcept nogil:
    """Micro-units as the shortest exact number: ``1``, ``2.5``, ``0.000125``."""
    cdef char* p = start
    cdef unsigned long long v, frac
    cdef int k, last
    if qty < 0:
        p[0] = 45
        p += 1
        v = <unsigned long long>(-(qty + 1)) + 1
    else:
        v = <unsigned long long>qty
    p = put_uint(p, v // 1000000)
    frac = v % 1000000
    if frac:
        p[0] = 46
        last = 0
        for k in range(6):
            p[6 - k] = <char>(48 + frac % 10)
            if not last and frac % 10:
                last = 6 - k
            frac //= 10
        p += last + 1
    return p - start


cdef long long _date_key[1024]   # direct-mapped cache of rendered dates: a plan names a few hundred days
cdef char _date_text[1024][10]
_date_key[:] = [0] * 1024


cdef char* put_id_suffix(char* p, long long due, long long rank) noexcept nogil:
    """What follows the item in a planned order's id: ``@DUE``, and ``#N`` for the Nth order due that day."""
    p[0] = 64  # "@"
    p = put_date(p + 1, due)
    if rank:
        p[0] = 35  # "#"
        p = put_uint(p + 1, <unsigned long long>(rank + 1))
    return p


cdef char* put_date(char* p, long long ordinal) noexcept nogil:
    """ISO date of a proleptic Gregorian ordinal (day 1 = 0001-01-01), as ``date.isoformat``; a day before
    the calendar's first (lead times from a requirement near it) is written as its first (``core.planids.iso``)."""
    cdef Py_ssize_t slot
    if ordinal < 1:
        ordinal = 1
    slot = ordinal & 1023
    if _date_key[slot] != ordinal:
        render_date(_date_text[slot], ordinal)
        _date_key[slot] = ordinal
    memcpy(p, _date_text[slot], 10)
    return p + 10


@cython.cdivision(True)
cdef char* render_date(char* p, long long ordinal) noexcept nogil:
    cdef long long z = ordinal + 305, era, doe, yoe, y, doy, mp, d, m
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    p[0] = <char>(48 + y // 1000 % 10)
    p[1] = <char>(48 + y // 100 % 10)
    p[2] = <char>(48 + y // 10 % 10)
    p[3] = <char>(48 + y % 10)
    p[4] = 45
    p[5] = <char>(48 + m // 10)
    p[6] = <char>(48 + m % 10)
    p[7] = 45
    p[8] = <char>(48 + d // 10)
    p[9] = <char>(48 + d % 10)
    return p + 10


cdef object _encode_change(ItemNode node, PlanStamp stamp, long long due, long long rank, long long release,
                           qty_t qty, bint past_due, bint deleted):
    global _out, _out_cap
    cdef Py_ssize_t need = 2 * PyBytes_GET_SIZE(node.label) + PyBytes_GET_SIZE(stamp.tail) + 256
    cdef Py_ssize_t key_need = PyBytes_GET_SIZE(stamp.key_prefix) + PyBytes_GET_SIZE(node.key_utf8) + 40
    cdef char suffix[40]
    cdef char* s = suffix
    cdef char* p
    cdef char* data
    cdef bytes key
    cdef PlannedOrderRecord record
    if need + key_need > _out_cap:
        data = <char*>realloc(_out, need + key_need)
        if data == NULL:
            raise MemoryError()
        _out, _out_cap = data, need + key_need
    s = put_id_suffix(s, due, rank)
    p = put_bytes(_out, stamp.key_prefix)
    p = put_bytes(p, node.key_utf8)
    p = put(p, suffix, s - suffix)
    key = PyBytes_FromStringAndSize(_out, p - _out)
    p = put(_out, _HEAD, 38)
    p = put_bytes(p, node.label)
    p = put(p, suffix, s - suffix)
    p = put(p, b'","item":"', 10)
    p = put_bytes(p, node.label)
    if node.make:
        p = put(p, b'","kind":"make","qty":', 22)
    else:
        p = put(p, b'","kind":"buy","qty":', 21)
    p += put_qty(p, qty)
    p = put(p, b',"release":"', 12)
    p = put_date(p, release)
    p = put(p, b'","due":"', 9)
    p = put(p, suffix + 1, 10)  # the due date, as in the id
    p[0] = 34  # closing quote
    p += 1
    if deleted:
        p = put(p, b',"action":"delete"', 18)
    elif past_due:
        p = put(p, b',"past_due":true', 16)
    p = put_bytes(p, stamp.tail)
    record = PlannedOrderRecord.__new__(PlannedOrderRecord)
    record.site, record.ts, record.item = stamp.site, stamp.ts, node.name
    record.key, record.value = key, PyBytes_FromStringAndSize(_out, p - _out)
    return record


cdef int _by_key(const void* a, const void* b) noexcept nogil:
    cdef long long x = (<const LoadEntry*>a).key, y = (<const LoadEntry*>b).key
    return (x > y) - (x < y)


cdef int _by_day(const void* a, const void* b) noexcept nogil:
    cdef long long x = (<const Entry*>a).day, y = (<const Entry*>b).day
    return (x > y) - (x < y)


cdef int _reserve_needs(Py_ssize_t n) except -1:
    global _needs, _needs_cap
    cdef long long* needs = <long long*>realloc(_needs, n * sizeof(long long))
    if needs == NULL:
        raise MemoryError()
    _needs, _needs_cap = needs, n
    return 0


cdef int _reserve_pending(Py_ssize_t lines) except -1:
    global _pending, _unsorted, _pending_cap
    cdef Py_ssize_t k
    cdef EntryVec* pending = <EntryVec*>realloc(_pending, lines * sizeof(EntryVec))
    if pending == NULL:
        raise MemoryError()
    _pending = pending
    cdef bint* unsorted = <bint*>realloc(_unsorted, lines * sizeof(bint))
    if unsorted == NULL:
        raise MemoryError()
    _unsorted = unsorted
    for k in range(_pending_cap, lines):
        _pending[k].data = NULL
        _pending[k].n = 0
        _pending[k].cap = 0
        _unsorted[k] = False
    _pending_cap = lines
    return 0
