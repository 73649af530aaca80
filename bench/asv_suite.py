"""asv-style entry points of the kernel benchmark.

asv calls ``setup(kernel)`` then each ``track_*`` method; results are
nanoseconds per event (``TrackMemory``: bytes).  The classes live only here,
so asv discovers each of them once.
"""

from __future__ import annotations

from core.engine import Engine
from core.netting import load as load_kernel
from core.planning import Planner

from .loading import ledger_site, load_plain
from .measure import KERNELS, measure_events
from .memory import memory_report
from .sitegen import GeneratedSite, SalesOrderStream, ScanStream, SiteSpec, generate

_ASV_ITEMS = 10_000
_ASV_CACHE: dict[str, tuple[GeneratedSite, Engine]] = {}


def _asv_engine(kernel: str) -> tuple[GeneratedSite, Engine]:
    if kernel not in _ASV_CACHE:
        gen = generate(SiteSpec(items=_ASV_ITEMS))
        engine, _ = load_plain(gen, kernel)
        _ASV_CACHE[kernel] = gen, engine
    return _ASV_CACHE[kernel]


class TrackStockScan:
    params = (list(KERNELS),)
    param_names = ("kernel",)
    unit = "ns"
    timeout = 1800

    def setup(self, kernel: str) -> None:
        gen, self.engine = _asv_engine(kernel)
        self.sample = measure_events(self.engine, ScanStream(gen, seed=11), "stock_scan", kernel, warmup=30,
                                     max_events=500, budget_s=30)

    def track_median_ns(self, kernel: str) -> float:
        return self.sample.median()

    def track_p99_ns(self, kernel: str) -> float:
        return self.sample.p99()

    def track_outputs_mean(self, kernel: str) -> float:
        return self.sample.outputs_mean()

    track_outputs_mean.unit = "outputs"  # type: ignore[attr-defined]


class TrackSalesOrder(TrackStockScan):
    def setup(self, kernel: str) -> None:
        gen, self.engine = _asv_engine(kernel)
        self.sample = measure_events(self.engine, SalesOrderStream(gen, seed=12), "sales_order", kernel, warmup=5,
                                     max_events=100, budget_s=30)


class TimeRegenerate:
    params = (list(KERNELS),)
    param_names = ("kernel",)
    timeout = 3600
    number = 1
    repeat = 1

    def setup(self, kernel: str) -> None:
        gen = generate(SiteSpec(items=100_000))
        self.engine, _ = ledger_site(gen)
        self.site = self.engine.sites[gen.spec.site]

    def time_regenerate(self, kernel: str) -> None:
        Planner(kernel=load_kernel(kernel)).regenerate(self.site)


class TrackMemory:
    unit = "bytes"
    timeout = 1800

    def setup(self) -> None:
        _, _, self.report = memory_report(generate(SiteSpec(items=_ASV_ITEMS)), "cython")

    def track_bytes_per_item(self) -> float:
        return (self.report.ledger_items + self.report.planner_items) / self.report.items

    def track_bytes_per_order(self) -> float:
        return (self.report.ledger_orders + self.report.planner_orders) / self.report.orders

    def track_planner_bytes_per_item(self) -> float:
        return self.report.planner_total / self.report.items

    def track_planned_order_bytes_per_item(self) -> float:
        return self.report.contents.planned_bytes / self.report.items
