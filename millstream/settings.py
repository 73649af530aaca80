"""Settings of the service: documented defaults, a TOML file, then environment variables.

Precedence: defaults < the file named by ``MILLSTREAM_CONFIG`` (or ``--config``) < ``MILLSTREAM_*``
variables.  Every field is listed in ``docs/settings.md``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.control import ControlSettings

__all__ = ["Settings", "control_settings", "load_settings"]


@dataclass(frozen=True, slots=True)
class Settings:
    #: Kafka bootstrap servers (loopback by default)
    bootstrap: str = "127.0.0.1:9092"
    #: partitions of the site-keyed topics (inputs, changelogs); set once, before the first start
    partitions: int = 8
    #: replication factor of the topics the app creates (3 on a 3-broker cluster)
    replication: int = 1
    #: prefix of every topic name
    topic_prefix: str = "millstream"
    #: port of the worker's HTTP query API and /metrics
    web_port: int = 6066
    #: address the worker's web server listens on (0.0.0.0 in a container, for Prometheus and peers)
    web_bind: str = "127.0.0.1"
    #: host name peers and clients reach this worker by (its canonical URL, announced in the group)
    web_host: str = "127.0.0.1"
    #: where RocksDB tables live
    data_dir: str = ".cache/worker"
    #: input records per take of the worker from its feed (streams/feed.py): an engine batch when it keeps up
    batch_size: int = 500
    #: input bytes one engine batch may join from several takes while the worker is behind (0: never joins)
    catchup_bytes: int = 16 << 20
    #: seconds the consumer group waits for a silent worker before its partitions move to the others
    session_timeout: int = 60
    #: seconds a batch may wait for outputs the brokers refuse before it is aborted and the worker restarts
    transaction_timeout: int = 600
    #: input records a worker reads ahead of the batch being applied; more pauses fetching (back-pressure)
    read_ahead: int = 65_536
    #: input bytes (record values) a worker reads ahead of the batch being applied; more pauses fetching
    read_ahead_bytes: int = 32 << 20
    #: the worker's netting kernel: "cython", "python" (the pure-Python twin), "off" (no planning, so no plan
    #: or cost outputs: ledger and durable state only; for benchmarks) or empty (the compiled one when built)
    kernel: str = ""
    #: allow stock to go negative instead of rejecting over-issues
    allow_negative_stock: bool = False
    #: days (event time) closed orders, delivered demands and received transfers are kept after they are done;
    #: 0 keeps them for ever (core/retention.py)
    retention_days: int = 60
    #: largest input message a worker accepts, bytes: larger ones are dead-lettered before they are parsed
    max_message_bytes: int = 1 << 20
    #: events of one site `millstream publish` and `POST /events` pack into one envelope (docs/publish.md)
    envelope_size: int = 100
    #: longest an event waits in an envelope that is not full before `millstream publish` sends it, ms
    envelope_linger_ms: int = 100
    #: longest a site event waits, once every input is read to its end, for an input that carried the site's
    #: events lately to show a later time, ms (the event-time merge, docs/design.md); 0: never waits then
    merge_grace_ms: int = 500
    #: site events of one partition waiting for the event-time merge at which the worker pauses the inputs
    #: running ahead, until fewer than half wait (bounds memory while a backlog is read)
    merge_hold_limit: int = 10_000
    #: seconds between the worker's full garbage collections, run between batches (streams/collector.py);
    #: 0: CPython's own policy, which walks the whole in-memory state whenever it has grown by a quarter
    gc_full_interval: float = 600.0
    #: seconds between handing the memory the worker freed back to the system, busy or idle (glibc's
    #: malloc_trim, streams/release.py); 0: never (freed memory stays in the worker's RSS)
    memory_release_interval: float = 5.0
    #: bearer token `POST /events` asks for; empty: no token asked (kept out of repr, so out of logs)
    ingest_token: str = dataclasses.field(default="", repr=False)
    #: how Kafka clients connect: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (docs/security.md)
    security_protocol: str = "PLAINTEXT"
    #: SASL mechanism of SASL_SSL and SASL_PLAINTEXT: SCRAM-SHA-512 or SCRAM-SHA-256
    sasl_mechanism: str = "SCRAM-SHA-512"
    #: SASL user name of every Kafka client of this process
    sasl_username: str = ""
    #: SASL password (kept out of repr, so out of logs)
    sasl_password: str = dataclasses.field(default="", repr=False)
    #: PEM file of the CA certificates the brokers' certificates are checked against; empty: the system's
    ssl_cafile: str = ""
    #: bearer token the query API and /status ask for; empty: no token asked (kept out of repr)
    api_token: str = dataclasses.field(default="", repr=False)
    #: /metrics asks for api_token too (otherwise it is open, like Prometheus expects)
    metrics_auth: bool = False
    #: cycle service level the recommended safety stock is sized for (docs/inventory-control.md)
    service_level: float = 0.95
    #: weeks `millstream forecast` and /forecast forecast, from the current week on
    forecast_horizon_weeks: int = 13
    #: weeks in a season of the demand (Holt-Winters is tried with two seasons of history)
    forecast_season_weeks: int = 52
    #: days between cycle counts of an A, a B and a C item
    count_days_a: int = 30
    count_days_b: int = 91
    count_days_c: int = 365
    #: days after a count that found a difference until the item is counted again
    recount_days: int = 7

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}.{name}"


def _coerce(field: dataclasses.Field[Any], raw: Any, origin: str) -> Any:
    kind = field.type if isinstance(field.type, type) else {"int": int, "bool": bool, "str": str,
                                                             "float": float}[str(field.type)]
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{origin}: expected a boolean, got {raw!r}")
    try:
        return kind(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{origin}: expected {kind.__name__}, got {raw!r}") from None


def load_settings(config: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults, overridden by the TOML file, overridden by ``MILLSTREAM_<FIELD>`` variables."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    path = config or environ.get("MILLSTREAM_CONFIG")
    if path:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
        for key, raw in data.get("millstream", data).items():
            if key not in fields:
                raise ValueError(f"{path}: unknown setting {key!r}; known: {', '.join(fields)}")
            values[key] = _coerce(fields[key], raw, f"{path}: {key}")
    for name, field in fields.items():
        variable = f"MILLSTREAM_{name.upper()}"
        if variable in environ:
            values[name] = _coerce(field, environ[variable], variable)
    return Settings(**values)


def control_settings(settings: Settings) -> ControlSettings:
    """The inventory-control settings (forecast, safety stock, cycle counts); a value out of range raises."""
    return ControlSettings(
        horizon_weeks=settings.forecast_horizon_weeks, season_weeks=settings.forecast_season_weeks,
        service_level=settings.service_level, count_days_a=settings.count_days_a,
        count_days_b=settings.count_days_b, count_days_c=settings.count_days_c, recount_days=settings.recount_days)
