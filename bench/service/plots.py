"""The service benchmark's plots (matplotlib, the optional ``bench`` extra): PNGs next to the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")   # files only, no display
import matplotlib.pyplot as plt

__all__ = ["draw"]

SWEEPS = {"items": ("items per site", "throughput_items.png"), "depth": ("BOM depth", "throughput_depth.png"),
          "batch": ("worker batch size (records)", "throughput_batch.png")}


def draw(data: dict[str, Any], folder: Path) -> list[Path]:
    """Throughput against each swept parameter, latency against offered load; the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    note = f"{data['describe']}; {data['machine']['cores']} cores, load {data['machine']['load_start'][0]:.1f}"
    written = []
    for name, (label, filename) in SWEEPS.items():
        rows = sorted((r for r in data.get("sweeps") or [] if r["sweep"] == name), key=lambda r: r["value"])
        if not rows:
            continue
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        ax.plot([r["value"] for r in rows], [r["events_per_s"] for r in rows], marker="o", label="E: worker")
        ax.set_xlabel(label)
        ax.set_ylabel("events per second")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.set_title(f"Worker throughput against {label}", fontsize=10)
        fig.text(0.01, 0.01, f"{rows[0]['events']:,}+ events per point, envelopes; {note}", fontsize=6)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        fig.savefig(folder / filename, dpi=120)
        plt.close(fig)
        written.append(folder / filename)
    rows = sorted(data.get("latency") or [], key=lambda r: r["rate"])
    if rows:
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for key, style in (("p50", "o-"), ("p99", "s-"), ("p99.9", "^-")):
            ax.plot([r["rate"] for r in rows], [r[key] * 1000 for r in rows], style, label=key)
        for r in rows:
            if not r["sustained"]:
                ax.axvline(r["rate"], color="grey", alpha=0.2, linewidth=6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("offered load, events per second (grey: not sustained)")
        ax.set_ylabel("latency, ms (event ts to committed output)")
        ax.grid(alpha=0.3, which="both")
        ax.legend()
        ax.set_title("Latency against offered load (one event per message, exactly-once)", fontsize=10)
        fig.text(0.01, 0.01, note, fontsize=6)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        fig.savefig(folder / "latency_load.png", dpi=120)
        plt.close(fig)
        written.append(folder / "latency_load.png")
    return written
