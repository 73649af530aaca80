# cython: language_level=3
"""Compiled netting kernel; ``_netting_py.py`` is its readable twin (same results).

The hot loops run on typed memoryviews without the GIL; only building the
result list touches Python objects.  Quantities are fixed-point int64
(micro-units), days are date ordinals.
"""

from libc.math cimport ceil, sqrt

CYTHON_MODULE = 1

LOT_FOR_LOT, FIXED, MIN_MULTIPLE, PERIOD, EOQ = 0, 1, 2, 3, 4
cdef int _FIXED = 1, _MIN_MULTIPLE = 2, _PERIOD = 3, _EOQ = 4
cdef qty_t UNIT = 1000000
cdef long YEAR_DAYS = 365
cdef double MAX_UNITS = 1e9


cdef inline long clamp(long long day, long today) noexcept nogil:
    return <long>day if day > today else today


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


cdef qty_t lowest_balance(qty_t balance, long end, long today, Py_ssize_t i, Py_ssize_t j,
                          const long long[::1] req_day, const long long[::1] req_qty,
                          const long long[::1] rcp_day, const long long[::1] rcp_qty) noexcept nogil:
    cdef qty_t lowest = balance
    cdef Py_ssize_t nr = req_day.shape[0], nc = rcp_day.shape[0]
    cdef long day, day_r, day_c
    while True:
        day_r = clamp(req_day[i], today) if i < nr else end
        day_c = clamp(rcp_day[j], today) if j < nc else end
        day = day_r if day_r < day_c else day_c
        if day >= end:
            return lowest
        while j < nc and clamp(rcp_day[j], today) == day:
            balance += rcp_qty[j]
            j += 1
        while i < nr and clamp(req_day[i], today) == day:
            balance -= req_qty[i]
            i += 1
        if balance < lowest:
            lowest = balance


def net_item(long today, long long on_hand, long long safety_stock, long lead_time,
             int rule, long long fixed_qty, long long min_qty, long long max_qty, long long multiple,
             long period_days, double ordering_cost, double holding_per_unit,
             const long long[::1] req_day, const long long[::1] req_qty,
             const long long[::1] rcp_day, const long long[::1] rcp_qty):
    """Planned orders as (due, release, qty, short) tuples; see the twin for the rules."""
    cdef Py_ssize_t nr = req_day.shape[0], nc = rcp_day.shape[0], i = 0, j = 0, k
    cdef qty_t balance = on_hand, net, short, size, cover, qty, chunk, annual = 0, eoq = 0
    cdef long day = today, next_day
    cdef list planned = []
    cdef list sizes
    if rule == _EOQ:
        for k in range(nr):
            if req_day[k] < today + YEAR_DAYS:
                annual += req_qty[k]
        eoq = eoq_qty(annual, ordering_cost, holding_per_unit)
    while True:
        while j < nc and clamp(rcp_day[j], today) == day:
            balance += rcp_qty[j]
            j += 1
        while i < nr and clamp(req_day[i], today) == day:
            balance -= req_qty[i]
            i += 1
        if balance < safety_stock:
            net = safety_stock - balance
            short = -balance if balance < 0 else 0
            if rule == _FIXED and fixed_qty > 0:
                sizes = [ceil_to(net, fixed_qty)]
            elif rule == _MIN_MULTIPLE:
                qty = net if net > min_qty else min_qty
                if multiple > 0:
                    qty = ceil_to(qty, multiple)
                if max_qty <= 0 or qty <= max_qty:
                    sizes = [qty]
                else:
                    chunk = (max_qty // multiple) * multiple if multiple > 0 else max_qty
                    if chunk <= 0:
                        chunk = max_qty
                    sizes = []
                    while qty > chunk:
                        sizes.append(chunk)
                        qty -= chunk
                    sizes.append(qty)
            elif rule == _PERIOD and period_days > 1:
                sizes = [safety_stock - lowest_balance(balance, day + period_days, today, i, j,
                                                       req_day, req_qty, rcp_day, rcp_qty)]
            elif rule == _EOQ:
                sizes = [net if net > eoq else eoq]
            else:
                sizes = [net]
            for size in sizes:
                cover = short if short < size else size
                planned.append((day, day - lead_time, size, cover))
                short -= cover
                balance += size
        if i < nr:
            next_day = clamp(req_day[i], today)
            if j < nc and clamp(rcp_day[j], today) < next_day:
                next_day = clamp(rcp_day[j], today)
        elif j < nc:
            next_day = clamp(rcp_day[j], today)
        else:
            break
        day = next_day
    return planned


def need_days(long today, long long on_hand, long long safety_stock,
              const long long[::1] req_day, const long long[::1] req_qty, const long long[::1] rcp_qty):
    """For each receipt (in due order), the first day it is needed; -1 if never."""
    cdef Py_ssize_t nr = req_day.shape[0], nc = rcp_qty.shape[0], i = 0, k
    cdef qty_t supply = on_hand, cumulative = 0
    cdef long current = today, found
    cdef list out = []
    for k in range(nc):
        if supply - cumulative < safety_stock:
            out.append(current)
        else:
            found = -1
            while i < nr:
                current = clamp(req_day[i], today)
                while i < nr and clamp(req_day[i], today) == current:
                    cumulative += req_qty[i]
                    i += 1
                if supply - cumulative < safety_stock:
                    found = current
                    break
            out.append(found)
        supply += rcp_qty[k]
    return out
