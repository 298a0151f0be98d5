"""Years without a holiday schedule are shown (issue #14, item 4): the view and ``liangfa
status`` warn until an operator loads the State Council's notice. The shipped template
for 2027 loads, but its placeholder dates are unverified: copied as it is, the warning
stays until the operator marks the checked schedule ``verified: true``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.calendar import (
    OVERRIDE_TEMPLATE,
    UnknownCalendarYearWarning,
    WorkingDayCalendar,
    load_calendar_overrides,
    reset_default_calendar,
    unscheduled_years,
    use_calendar,
)
from hub.cli.stack import _warn_unscheduled_years
from hub.view.app import create_app
from hub.view.settings import DEFAULT_DEMO_PASSWORD, ViewSettings
from tests.support.view_data import MARKET, POLICE

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / OVERRIDE_TEMPLATE


@pytest.fixture(autouse=True)
def _fresh_calendar() -> Iterator[None]:
    reset_default_calendar()
    yield
    reset_default_calendar()


def _with_template() -> WorkingDayCalendar:
    return WorkingDayCalendar(load_calendar_overrides(TEMPLATE))


def _with_checked_schedule() -> WorkingDayCalendar:
    """The template as an operator leaves it once every date is checked."""
    overrides = load_calendar_overrides(TEMPLATE)
    checked = overrides.model_copy(update={"complete_years": tuple(
        year.model_copy(update={"verified": True}) for year in overrides.complete_years)})
    return WorkingDayCalendar(checked)


def test_this_year_and_the_next_are_checked_and_guessed_years_are_kept() -> None:
    shipped = WorkingDayCalendar()
    assert unscheduled_years(date(2026, 12, 4), shipped) == (2027,)
    assert unscheduled_years(date(2025, 6, 1), shipped) == ()
    with pytest.warns(UnknownCalendarYearWarning):
        shipped.is_working_day(date(2030, 5, 6))  # a clock that ran into 2030
    assert unscheduled_years(date(2025, 6, 1), shipped) == (2030,)
    # the template's placeholders copied as they are: still a year to check
    assert unscheduled_years(date(2026, 12, 4), _with_template()) == (2027,)
    assert unscheduled_years(date(2026, 12, 4), _with_checked_schedule()) == ()


def test_the_2027_template_declares_the_year_unverified_with_its_source() -> None:
    overrides = load_calendar_overrides(TEMPLATE)
    assert [d.year for d in overrides.complete_years] == [2027]
    assert not overrides.complete_years[0].verified
    assert all("国务院办公厅关于2027年部分节假日安排的通知" in d.source for d in overrides.dates)


def _login(client: TestClient, username: str = "prosecutor") -> None:
    client.cookies.clear()
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    client.post("/login", data={"username": username, "password": DEFAULT_DEMO_PASSWORD,
                                "csrf_token": token.group(1)})


@pytest.mark.parametrize("loaded", [False, True])
def test_the_view_warns_on_every_page_until_the_schedule_is_loaded(
    tmp_path: Path, loaded: bool) -> None:
    today = date.today()
    use_calendar(_with_checked_schedule() if loaded else WorkingDayCalendar())
    expected = unscheduled_years(today)
    settings = ViewSettings(database_url=f"sqlite:///{tmp_path / 'view.sqlite3'}",
                            seed_demo_users=True, demo_unit_codes=[MARKET, POLICE],
                            bootstrap=None)
    with TestClient(create_app(settings)) as client:
        _login(client)
        for path in ("/", "/cases", "/alerts"):
            page = client.get(path).text
            if expected:
                assert 'id="calendar-warning"' in page, path
                assert f"{expected[-1]}年的法定节假日安排尚未载入或尚未核实" in page
            else:
                assert 'id="calendar-warning"' not in page, path
            # what operations must do is theirs; a prosecutor reads what it means
            assert "calendar_overrides.yaml" not in page, path
        english = client.get("/?lang=en").text
        assert ("is not loaded or not yet checked" in english) == bool(expected)
        _login(client, "operations")
        status = client.get("/status?lang=zh").text
        assert ("calendar_overrides.yaml" in status) == bool(expected)
    if today.year == 2026 and not loaded:
        assert expected == (2027,)  # chinese-calendar 1.11 ends with 2026


def test_liangfa_status_warns_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    use_calendar(WorkingDayCalendar())
    _warn_unscheduled_years()
    captured = capsys.readouterr()
    years = unscheduled_years()
    assert captured.out == ""
    if years:
        assert str(years[-1]) in captured.err and OVERRIDE_TEMPLATE in captured.err
    use_calendar(_with_checked_schedule())
    _warn_unscheduled_years()
    assert capsys.readouterr().err == "" or date.today().year >= 2027
