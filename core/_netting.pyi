from collections.abc import Sequence

CYTHON_MODULE: int
LOT_FOR_LOT: int
FIXED: int
MIN_MULTIPLE: int
PERIOD: int
EOQ: int

def eoq_qty(annual: int, ordering_cost: float, holding_per_unit: float) -> int: ...
def net_item(today: int, on_hand: int, safety_stock: int, lead_time: int, rule: int, fixed_qty: int,
             min_qty: int, max_qty: int, multiple: int, period_days: int, ordering_cost: float,
             holding_per_unit: float, req_day: Sequence[int], req_qty: Sequence[int],
             rcp_day: Sequence[int], rcp_qty: Sequence[int]) -> list[tuple[int, int, int, int]]: ...
def need_days(today: int, on_hand: int, safety_stock: int, req_day: Sequence[int], req_qty: Sequence[int],
              rcp_qty: Sequence[int]) -> list[int]: ...
