"""Fixed-point quantities: micro-units in Python ints, so stock never drifts.

Contract quantities are bounded (<= 1e9), so ``round(x * 10**6)`` recovers the
exact decimal value written by the sender for up to six decimals.
"""

from __future__ import annotations

from decimal import Decimal

SCALE = 1_000_000

__all__ = ["SCALE", "ceil_div", "to_fixed", "to_number"]


def to_fixed(value: float | int) -> int:
    """Contract number -> micro-units (half-even rounding at 1e-6)."""
    return round(value * SCALE)


_MILLION = Decimal(SCALE)


def to_number(micro: int) -> int | Decimal:
    """Micro-units -> the shortest exact number for output.

    An exact division by 10**6 gives the shortest form directly (the same as
    ``scaleb(-6).normalize()``, at half the cost: plans publish many).
    """
    if micro % SCALE == 0:
        return micro // SCALE
    return Decimal(micro) / _MILLION


def ceil_div(numerator: int, denominator: int) -> int:
    """Integer division rounding up, for requirements that must be covered."""
    return -((-numerator) // denominator)
