"""Units of measure a spreadsheet may name, and the one code each becomes.

The v1 contract takes any non-empty string as an item's ``uom`` and converts
nothing: a BOM, stock or purchase quantity is in its item's unit.  Two names
for one unit ("pcs", "each") would therefore look like two units, and a typo
like "pcz" would pass unnoticed.  Importers map every known spelling to one
canonical code and refuse names they do not know (``--unit`` adds codes).
"""

from __future__ import annotations

import re

__all__ = ["UNITS", "canonical_unit", "unit_key"]

#: canonical code -> other spellings (compared case-insensitively, without dots and spaces)
UNITS: dict[str, tuple[str, ...]] = {
    "ea": ("each", "pc", "pcs", "piece", "pieces", "unit", "units", "st", "stk", "stck", "pce", "c62", "h87"),
    "pair": ("pr", "pairs"),
    "set": ("sets",),
    "kit": ("kits",),
    "box": ("boxes", "bx"),
    "pack": ("pk", "pkg", "packs", "package"),
    "roll": ("rolls", "rl"),
    "reel": ("reels",),
    "sheet": ("sheets", "sht"),
    "mg": ("milligram", "milligrams"),
    "g": ("gram", "grams", "gr", "grm"),
    "kg": ("kilogram", "kilograms", "kilo", "kgs", "kgm"),
    "t": ("tonne", "tonnes", "tne"),
    "lb": ("lbs", "pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "mm": ("millimetre", "millimeter", "millimetres", "millimeters", "mmt"),
    "cm": ("centimetre", "centimeter", "centimetres", "centimeters", "cmt"),
    "m": ("metre", "meter", "metres", "meters", "mtr"),
    "km": ("kilometre", "kilometer", "kmt"),
    "in": ("inch", "inches"),
    "ft": ("foot", "feet"),
    "m2": ("sqm", "m²", "square metre", "square meter", "mtk"),
    "ft2": ("sqft", "ft²", "square foot", "square feet"),
    "ml": ("millilitre", "milliliter", "millilitres", "milliliters", "mlt"),
    "l": ("litre", "liter", "litres", "liters", "ltr", "lt"),
    "m3": ("cbm", "m³", "cubic metre", "cubic meter", "mtq"),
    "gal": ("gallon", "gallons"),
    "h": ("hr", "hrs", "hour", "hours", "hur"),
    "min": ("minute", "minutes", "mins"),
}


def unit_key(name: str) -> str:
    """How a unit name is compared: lower case, no dots, no spaces ("Pcs." -> "pcs")."""
    return re.sub(r"[\s.]+", "", name.strip().lower())


_BY_KEY: dict[str, str] = {}
for _code, _names in UNITS.items():
    for _name in (_code, *_names):
        _BY_KEY[unit_key(_name)] = _code


def canonical_unit(name: str, extra: frozenset[str] = frozenset()) -> str | None:
    """The canonical code of ``name``, or None if unknown; ``extra`` codes are accepted as written (lower case)."""
    key = unit_key(name)
    if key in _BY_KEY:
        return _BY_KEY[key]
    return key if key in extra else None
