"""Seeds and where each harness keeps what libFuzzer finds (``.cache/fuzz/<name>``, outside git)."""

from __future__ import annotations

from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "millstream" / "samples" / "hearing_devices.jsonl"

__all__ = ["ROOT", "corpus_dir", "seed_messages"]


def seed_messages() -> list[bytes]:
    """The sample's lines as JSON and as msgpack, and one envelope per site: valid input to mutate from."""
    lines = [line.strip() for line in SAMPLE.read_bytes().splitlines() if line.strip()]
    seeds = list(lines)
    by_site: dict[str, list[bytes]] = {}
    for line in lines:
        try:
            data = msgspec.json.decode(line)
        except msgspec.DecodeError:
            continue   # the sample's deliberately broken line is a seed as it is
        seeds.append(msgspec.msgpack.encode(data))
        if isinstance(data, dict) and data.get("site"):
            by_site.setdefault(data["site"], []).append(line)
    for site, events in by_site.items():
        seeds.append(b'{"type":"envelope","site":"%s","events":[%s]}' % (site.encode(), b",".join(events[:8])))
    return seeds


def corpus_dir(name: str, seeds: list[bytes] | None = None) -> Path:
    """The harness's working corpus, filled with the seeds the first time."""
    path = ROOT / ".cache" / "fuzz" / name
    path.mkdir(parents=True, exist_ok=True)
    if seeds and not any(path.iterdir()):
        for number, seed in enumerate(seeds):
            (path / f"seed-{number:04d}").write_bytes(seed)
    return path
