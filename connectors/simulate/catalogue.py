"""What a hearing-device manufacturer buys, builds and sells: the vocabulary of the simulated factory.

Fixed tables, no randomness: the structure builder draws from them.  Names are generic (no real
suppliers or products); prices are per unit in the site currency, lead times in calendar days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = ["CATEGORIES", "FAMILIES", "SA_TYPES", "SITES", "SUPPLIERS", "Category", "Family", "SaType",
           "SiteInfo", "Supplier", "site_infos"]


@dataclass(frozen=True, slots=True)
class Category:
    """A kind of purchased part."""

    code: str
    name: str
    variants: tuple[str, ...]
    price: tuple[float, float]
    lead_days: tuple[int, int]
    inspected: bool               # incoming inspection: received as qc_pending
    weight: float                 # share of the purchased items
    sharing: float                # Zipf exponent of how often BOMs pick the same part (high: few parts, many users)
    scrap_pct: tuple[float, ...]  # BOM scrap allowances drawn from


@dataclass(frozen=True, slots=True)
class SaType:
    """A kind of sub-assembly, what parts it takes (category, qty per) and the kind made below it."""

    code: str
    name: str
    parts: tuple[tuple[str, int], ...]
    child: str
    operations: tuple[str, ...]
    inspected: bool               # output goes to qc_pending and is inspected
    yields: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Family:
    """A finished-device family: its sub-assembly kinds and the parts it takes directly."""

    code: str
    name: str
    share: float
    assemblies: tuple[str, ...]
    parts: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Supplier:
    """A supplier's delivery habits: receipts arrive ``bias`` days after the due date on average."""

    name: str
    bias: float
    spread: float
    partial: float                # chance a delivery comes in two parts


@dataclass(frozen=True, slots=True)
class SiteInfo:
    name: str
    offset: dt.timezone
    scale: float                  # demand relative to the first site


CATEGORIES: dict[str, Category] = {c.code: c for c in (
    Category("MIC", "MEMS microphone", ("omni 2.5 mm", "directional", "low-noise", "top-port"),
             (0.8, 3.0), (14, 28), True, 9, 0.9, (0, 1, 2)),
    Category("RCV", "balanced-armature receiver", ("S", "M", "P", "UP"), (1.5, 6.0), (14, 35), True, 8, 0.8,
             (0, 1)),
    Category("DSP", "DSP chip", ("gen 4", "gen 5", "gen 5 BT", "gen 6"), (4.0, 12.0), (35, 60), True, 3, 1.2,
             (0, 1)),
    Category("FLEX", "flex circuit", ("2-layer", "4-layer", "rigid-flex"), (0.4, 3.0), (10, 21), False, 10, 0.6,
             (0, 1, 2)),
    Category("SHELL", "shell", ("beige", "silver", "graphite", "champagne", "black", "transparent"), (0.3, 4.0),
             (7, 14), False, 16, 0.3, (0, 2, 5)),
    Category("BAT", "battery", ("size 10", "size 312", "size 13", "size 675", "Li-ion cell"), (0.1, 0.5),
             (5, 10), False, 2, 1.5, (0,)),
    Category("DOME", "dome", ("open S", "open M", "closed M", "power L", "tulip"), (0.05, 0.3), (5, 10), False,
             4, 1.3, (0, 2)),
    Category("PKG", "packaging", ("retail box", "tray insert", "user guide", "cleaning kit"), (0.2, 1.5),
             (3, 7), False, 5, 1.3, (0, 1)),
    Category("CAP", "passive component", ("0201 capacitor", "0402 resistor", "ferrite bead"), (0.005, 0.05),
             (7, 21), False, 10, 1.1, (1, 2)),
    Category("WIRE", "receiver wire", ("size 0", "size 1", "size 2", "size 3"), (0.3, 1.2), (7, 14), False,
             5, 0.8, (0, 1)),
    Category("COIL", "telecoil", ("vertical", "horizontal"), (0.4, 1.5), (14, 28), True, 3, 1.0, (0, 1)),
    Category("BTN", "push button", ("single", "rocker"), (0.05, 0.4), (7, 14), False, 4, 1.0, (0, 1)),
    Category("FILTER", "wax guard", ("standard", "fine"), (0.02, 0.1), (5, 10), False, 3, 1.2, (0,)),
    Category("HOOK", "earhook", ("standard", "power", "slim"), (0.1, 0.5), (7, 14), False, 3, 0.9, (0, 1)),
    Category("CONTACT", "charging contact", ("pogo pin", "spring"), (0.05, 0.3), (10, 21), False, 3, 1.0, (0, 1)),
)}

SA_TYPES: dict[str, SaType] = {t.code: t for t in (
    SaType("EM", "electronics module", (("MIC", 2), ("CAP", 3)), "DB", ("smt", "reflow", "in-circuit-test"),
           True, (97, 98, 99)),
    SaType("DB", "DSP board", (("DSP", 1), ("CAP", 4)), "FA", ("smt", "test"), True, (98, 99, 100)),
    SaType("FA", "flex assembly", (("FLEX", 1), ("CAP", 2)), "CC", ("solder",), False, (99, 100)),
    SaType("CC", "component carrier", (("CAP", 2), ("CONTACT", 1)), "CC", ("assemble",), False, (100,)),
    SaType("RU", "receiver unit", (("RCV", 1), ("WIRE", 1)), "RA", ("assemble", "acoustic-test"), True,
           (98, 99)),
    SaType("RA", "receiver assembly", (("FLEX", 1), ("FILTER", 1)), "CC", ("solder",), False, (99, 100)),
    SaType("EH", "earhook assembly", (("HOOK", 1), ("FILTER", 1)), "CC", ("assemble",), False, (100,)),
    SaType("FP", "faceplate", (("BTN", 1), ("COIL", 1)), "CC", ("assemble",), False, (99, 100)),
)}

FAMILIES: tuple[Family, ...] = (
    Family("RIC", "receiver-in-canal hearing aid", 0.45, ("EM", "RU"),
           (("SHELL", 1), ("BAT", 1), ("DOME", 2), ("PKG", 1))),
    Family("BTE", "behind-the-ear hearing aid", 0.35, ("EM", "EH"),
           (("SHELL", 1), ("BAT", 1), ("DOME", 1), ("PKG", 1))),
    Family("ITE", "in-the-ear hearing aid", 0.20, ("EM", "FP"),
           (("SHELL", 1), ("BAT", 1), ("RCV", 1), ("FILTER", 1), ("PKG", 1))),
)

#: suppliers per part category (first letters differ so lots are easy to tell apart)
SUPPLIERS: dict[str, tuple[Supplier, ...]] = {
    "MIC": (Supplier("Nordic Acoustics", 1.0, 2.0, 0.15), Supplier("Pacific Transducers", 3.0, 4.0, 0.25)),
    "RCV": (Supplier("Nordic Acoustics", 1.0, 2.0, 0.15), Supplier("Alpine Receivers", -1.0, 1.5, 0.1)),
    "DSP": (Supplier("Silicon Fjord", 4.0, 6.0, 0.3),),
    "FLEX": (Supplier("Flexline Circuits", 0.5, 2.0, 0.1), Supplier("Harbour PCB", 2.0, 3.0, 0.2)),
    "SHELL": (Supplier("Polymer Works", 0.0, 1.5, 0.1), Supplier("Shellcraft", 1.5, 2.5, 0.15)),
    "BAT": (Supplier("Cellpower", -0.5, 1.0, 0.05),),
    "DOME": (Supplier("Soft Silicone Co", 0.0, 1.0, 0.05),),
    "PKG": (Supplier("Boxwell Print", -1.0, 1.0, 0.05),),
    "CAP": (Supplier("Passives Direct", 0.5, 2.5, 0.2), Supplier("Harbour PCB", 2.0, 3.0, 0.2)),
    "WIRE": (Supplier("Alpine Receivers", -1.0, 1.5, 0.1),),
    "COIL": (Supplier("Magnetics Ltd", 2.0, 3.0, 0.2),),
    "BTN": (Supplier("Polymer Works", 0.0, 1.5, 0.1),),
    "FILTER": (Supplier("Soft Silicone Co", 0.0, 1.0, 0.05),),
    "HOOK": (Supplier("Polymer Works", 0.0, 1.5, 0.1),),
    "CONTACT": (Supplier("Magnetics Ltd", 2.0, 3.0, 0.2),),
}

#: plants, in the order ``--sites N`` takes them (more than listed: the list repeats with a new number)
SITES: tuple[tuple[str, float, float], ...] = (
    ("DK", 1.0, 1.0), ("US", -5.0, 0.8), ("SG", 8.0, 0.6), ("PL", 1.0, 0.5),
    ("MX", -6.0, 0.45), ("CN", 8.0, 0.7), ("CH", 1.0, 0.35), ("AU", 10.0, 0.3),
)


def site_infos(count: int) -> list[SiteInfo]:
    """``count`` plants: DK1, US1, SG1 ... then DK2, US2 ..."""
    infos = []
    for index in range(count):
        code, hours, scale = SITES[index % len(SITES)]
        number = index // len(SITES) + 1
        infos.append(SiteInfo(f"{code}{number}", dt.timezone(dt.timedelta(hours=hours)), scale / number))
    return infos
