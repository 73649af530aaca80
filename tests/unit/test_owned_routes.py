"""The service's processor (streams.durable.OwnedProcessor) routes every output as the plain processor does,
labelled with the site that made it: planned orders take a shortcut there, so they are compared here."""

from __future__ import annotations

from pathlib import Path

from core.engine import Engine, EngineSettings
from core.netting import PLANNED_RECORDS
from millstream.settings import Settings
from streams.durable import OwnedProcessor, OwnedRecord
from streams.processor import InRecord, Processor
from tests.helpers import reset

SAMPLE = Path(__file__).resolve().parents[2] / "millstream" / "samples" / "hearing_devices.jsonl"
SETTINGS = Settings()


def _routed(processor_class: type[Processor]) -> tuple[list[object], list[object]]:
    reset()
    engine = Engine(EngineSettings(local_transfers=False))
    processor = processor_class(engine, SETTINGS)
    topic = SETTINGS.topic("inventory")
    records = [InRecord(topic, 0, offset, line) for offset, line in enumerate(SAMPLE.read_bytes().splitlines())]
    captured: list[object] = []
    engine_apply = engine.apply

    def apply(*args: object, **kwargs: object) -> list[object]:
        outputs = engine_apply(*args, **kwargs)   # type: ignore[arg-type]
        captured.extend(outputs)
        return outputs

    engine.apply = apply   # type: ignore[method-assign]
    return processor.process(records), captured


def test_every_output_goes_where_the_plain_processor_sends_it_owned_by_its_site() -> None:
    plain, _ = _routed(Processor)
    owned, outputs = _routed(OwnedProcessor)
    assert [(r.topic, r.key, r.value) for r in owned] == [(r.topic, r.key, r.value) for r in plain]
    planned = [(record, output) for record, output in zip(owned, outputs, strict=True)
               if type(output) in PLANNED_RECORDS]
    assert len(planned) > 10   # the sample's plan: the shortcut is taken
    for record, output in planned:
        assert isinstance(record, OwnedRecord)
        assert record.topic == SETTINGS.topic("planned-orders")
        assert record.owner == output.site and record.key.startswith(f"{output.site}|".encode())
