"""Inventory control from the history the ledger keeps: forecasts, safety stock, cycle counts.

Pure and deterministic like the rest of ``core/``: the numbers come from the
site's history (``core/history.py``), never the wall clock.  Importing this
package is cheap: statsmodels (and numpy with it) is imported only when a
forecast is fitted (``models.py``), so the engine's hot path never pays for it.

- ``series``: weekly demand series from the history.
- ``models``: the candidate forecasting methods (statsmodels' exponential smoothing; Croston, SBA and TSB
  built from its simple exponential smoothing).
- ``forecast``: the method per item chosen by holdout error.
- ``publish``: forecasts as ``demand`` events of kind ``forecast``.
- ``safety_stock``: safety stock and reorder point from the variability seen.
- ``counts``: the cycle-count schedule and count accuracy per class.
- ``answers``: per-site answers for the query API; ``reports``: the same as replay report rows.
"""

from .settings import ControlSettings

__all__ = ["ControlSettings"]
