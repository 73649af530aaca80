"""Forecast answers as demand events (core/control/publish.py): new, changed, unchanged, zero, cancelled and
re-opened weeks, weeks of other sources, short histories; every event valid under the v1 contract."""

from __future__ import annotations

import copy
from typing import Any

import msgspec

from core.control.publish import demand_base_id, forecast_events
from schemas import events as ev
from schemas.codecs import encode_json

AS_OF = "2026-03-18T10:00:00+01:00"


def _week(week: str, due: str, qty: float) -> dict[str, Any]:
    return {"week": week, "due": due, "qty": qty}


def _demand(demand_id: str, week: str, due: str, qty: float, status: str = "open") -> dict[str, Any]:
    return {"id": demand_id, "week": week, "due": due, "qty": qty, "status": status}


def answer(forecast: list[dict[str, Any]], demands: list[dict[str, Any]] = (), holdout: int = 4,  # type: ignore[assignment]
           item: str = "FG") -> dict[str, Any]:
    return {"site": "S1", "as_of": AS_OF,
            "items": [{"item": item, "holdout_weeks": holdout, "note": "" if holdout else "3 weeks of history",
                       "forecast": forecast, "demands": list(demands)}]}


W12, W13, W14 = ("2026-W12", "2026-03-16"), ("2026-W13", "2026-03-23"), ("2026-W14", "2026-03-30")


def _plain(events: list[ev.Demand]) -> list[tuple[str, float, str, str]]:
    return [(e.demand_id, e.qty, e.due.isoformat(), e.status) for e in events]


def test_new_weeks_become_open_forecasts_due_on_their_monday() -> None:
    events, notes = forecast_events(answer([_week(*W12, 10.0), _week(*W13, 12.5), _week(*W14, 0.0)]))
    assert _plain(events) == [("fc:S1:FG:2026-W12", 10.0, "2026-03-16", "open"),
                              ("fc:S1:FG:2026-W13", 12.5, "2026-03-23", "open")]
    assert notes == []
    for event in events:   # valid v1 events, as the publisher and the decoder will see them
        assert msgspec.json.decode(encode_json(event), type=ev.InputEvent) == event
        assert event.kind == "forecast" and event.site == "S1" and event.ts.isoformat() == AS_OF


def test_only_changes_are_sent() -> None:
    ours = [_demand("fc:S1:FG:2026-W12", *W12, 10), _demand("fc:S1:FG:2026-W13", *W13, 12.5),
            _demand("fc:S1:FG:2026-W14", *W14, 7)]
    events, _ = forecast_events(answer([_week(*W12, 10.0), _week(*W13, 11.0), _week(*W14, 0.0004)], ours))
    # W12 unchanged; W13 changed: same id, new quantity; W14 rounds to zero: cancelled
    assert _plain(events) == [("fc:S1:FG:2026-W13", 11.0, "2026-03-23", "open"),
                              ("fc:S1:FG:2026-W14", 7.0, "2026-03-30", "cancelled")]


def test_a_cancelled_week_comes_back_under_the_next_id() -> None:
    ours = [_demand("fc:S1:FG:2026-W13", *W13, 12, "cancelled"), _demand("fc:S1:FG:2026-W13#2", *W13, 3, "cancelled")]
    events, _ = forecast_events(answer([_week(*W13, 5.0)], ours))
    assert _plain(events) == [("fc:S1:FG:2026-W13#3", 5.0, "2026-03-23", "open")]


def test_weeks_before_the_current_one_are_cancelled() -> None:
    ours = [_demand("fc:S1:FG:2026-W10", "2026-W10", "2026-03-02", 4),
            _demand("fc:S1:FG:2026-W11", "2026-W11", "2026-03-09", 4, "cancelled")]
    events, _ = forecast_events(answer([_week(*W12, 4.0)], ours))
    assert _plain(events) == [("fc:S1:FG:2026-W10", 4.0, "2026-03-02", "cancelled"),
                              ("fc:S1:FG:2026-W12", 4.0, "2026-03-16", "open")]


def test_forecasts_of_another_source_are_left_alone() -> None:
    theirs = [_demand("erp-fc-13", *W13, 40)]
    events, notes = forecast_events(answer([_week(*W12, 4.0), _week(*W13, 4.0)], theirs))
    assert _plain(events) == [("fc:S1:FG:2026-W12", 4.0, "2026-03-16", "open")]
    assert notes == ["S1 FG: 2026-W13 already forecast by another source; not replaced"]


def test_short_histories_are_sent_only_when_asked() -> None:
    short = answer([_week(*W12, 4.0)], holdout=0)
    events, notes = forecast_events(short)
    assert events == [] and notes == ["S1 FG: 3 weeks of history; not sent"]
    events, _ = forecast_events(short, include_short=True)
    assert _plain(events) == [("fc:S1:FG:2026-W12", 4.0, "2026-03-16", "open")]


def test_event_ids_follow_the_content() -> None:
    first, _ = forecast_events(answer([_week(*W12, 4.0)]))
    again, _ = forecast_events(copy.deepcopy(answer([_week(*W12, 4.0)])))
    other, _ = forecast_events(answer([_week(*W12, 5.0)]))
    assert first[0].event_id == again[0].event_id != other[0].event_id


def test_long_keys_are_hashed_to_fit_the_contract() -> None:
    long_item = "X" * 200
    base = demand_base_id("S1", long_item, "2026-W12")
    assert len(base) <= 192 and base.startswith("fc:") and base.endswith(":2026-W12")
    events, _ = forecast_events(answer([_week(*W12, 1.0)], item=long_item))
    assert msgspec.json.decode(encode_json(events[0]), type=ev.InputEvent).demand_id == base
    assert forecast_events({"site": "S1", "as_of": None, "items": []}) == ([], [])
