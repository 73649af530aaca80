"""/forecast, /safety-stock and /count-schedule over real HTTP without a broker: the worker's own views on two
stand-in workers (``test_status_http``), each asked for the site the other owns, answer what the owner's engine
says (the forecast fitted off the event loop, the request forwarded with the forecast's longer timeout)."""

from __future__ import annotations

import json
from typing import Any

from test_status_http import SETTINGS, get, workers  # noqa: F401  (the fixture: two workers over the sample)

from core import queries
from millstream.settings import control_settings
from schemas.codecs import encode_json

CONTROL = control_settings(SETTINGS)


def _json(value: Any) -> Any:
    return json.loads(encode_json(value))


def test_either_worker_answers_for_the_owner(workers: Any) -> None:  # noqa: F811
    urls, engine, _ = workers   # the first owns DK1, the second US1; both engines saw the whole sample
    for site in ("DK1", "US1"):
        expected = {
            "forecast": _json(queries.forecast(queries.forecast_snapshot(engine, site), CONTROL)),
            "safety-stock": _json(queries.safety_stock(engine, site, CONTROL)),
            "count-schedule": _json(queries.count_schedule(engine, site, CONTROL)),
        }
        for url in urls:
            for path, answer in expected.items():
                code, content_type, body = get(f"{url}/sites/{site}/{path}")
                assert (code, content_type) == (200, "application/json"), body
                assert json.loads(body) == answer, (url, site, path)
    us1 = json.loads(get(f"{urls[0]}/sites/US1/forecast?item=HA-100")[2])["items"][0]
    assert (us1["method"], us1["history"]) == ("mean", [{"week": "2026-W12", "qty": 110}])


def test_bad_parameters_are_refused_before_any_fit(workers: Any) -> None:  # noqa: F811
    urls, _, _ = workers
    for path, says in (("/sites/DK1/forecast?item=NOPE", "unknown item 'NOPE'"),
                       ("/sites/DK1/count-schedule?date=2026-13-01", "date must be YYYY-MM-DD"),
                       ("/sites/DK1/safety-stock?service_level=0.9", "unknown parameter 'service_level'")):
        code, _, body = get(f"{urls[1]}{path}")
        assert code in (400, 404) and says in json.loads(body)["error"], body
