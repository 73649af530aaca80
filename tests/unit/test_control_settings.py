"""Inventory-control settings: from the service's settings (file, variables), checked when built."""

from __future__ import annotations

import pytest

from core.control import ControlSettings
from millstream.settings import control_settings, load_settings


def test_variables_set_the_control_settings() -> None:
    settings = load_settings(environ={"MILLSTREAM_SERVICE_LEVEL": "0.98", "MILLSTREAM_COUNT_DAYS_A": "20",
                                      "MILLSTREAM_FORECAST_HORIZON_WEEKS": "8"})
    control = control_settings(settings)
    assert (control.service_level, control.count_days("A"), control.count_days("B"), control.horizon_weeks) == (
        0.98, 20, 91, 8)
    assert control_settings(load_settings(environ={})) == ControlSettings()


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("MILLSTREAM_SERVICE_LEVEL", "1", "service_level must be at least 0.5 and below 1"),
    ("MILLSTREAM_SERVICE_LEVEL", "0.3", "service_level"),
    ("MILLSTREAM_COUNT_DAYS_C", "0", "count_days_c must be from 1 to 3650"),
    ("MILLSTREAM_FORECAST_SEASON_WEEKS", "1", "season_weeks must be from 2"),
])
def test_values_out_of_range_are_refused_with_the_setting(variable: str, value: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        control_settings(load_settings(environ={variable: value}))


def test_a_service_level_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match="MILLSTREAM_SERVICE_LEVEL: expected float"):
        load_settings(environ={"MILLSTREAM_SERVICE_LEVEL": "high"})
