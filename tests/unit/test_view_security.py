"""The view under attack (issue #11): login throttling and lockout, revocable sessions,
user names as the README writes them, bounded numeric filters, a unit-scoped dashboard,
/docs under the view's own CSP, HTML error pages, and a store that refuses a record.

Real SQLite and PostgreSQL stores, real HTTP through the ASGI app. Lockouts move an
injected clock instead of sleeping.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.models import AuditOperation, AuditRecorded
from hub.view import app as view_app
from hub.view.app import create_app
from hub.view.bus import DecodedRecord, apply_batch
from hub.view.context import ViewContext
from hub.view.settings import DEFAULT_DEMO_PASSWORD, ViewSettings
from hub.view.store import (
    CasePartyRow,
    ConsumerOffsetRow,
    DeadLetterRow,
    OutboxRow,
    UnitStatsRow,
    UserRow,
)
from tests.support.postgres import fresh_database
from tests.support.view_data import MARKET, POLICE, apply_events, case_spec, stats_for

README_UNIT_USER = f"unit-{MARKET}"  # as the README writes it: upper-case code
T0 = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)


@dataclass
class View:
    client: TestClient
    context: ViewContext
    now: datetime = T0

    def tick(self, delta: timedelta) -> None:
        self.now += delta

    def token(self, username: str, password: str = DEFAULT_DEMO_PASSWORD) -> str:
        answer = self.client.post("/api/auth/token",
                                  json={"username": username, "password": password})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def audits(self) -> list[AuditRecorded]:
        with self.context.store.session() as session:
            rows = session.scalars(
                select(OutboxRow).where(OutboxRow.record_type == AuditRecorded.avro_name)
                .order_by(OutboxRow.id)
            ).all()
            return [AuditRecorded.model_validate(row.payload) for row in rows]

    def login_form(self, username: str, password: str, lang: str = "zh") -> str:
        """Post the web login form; the page it lands on, as text."""
        page = self.client.get(f"/login?lang={lang}")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        posted = self.client.post(
            "/login", data={"username": username, "password": password,
                            "csrf_token": csrf.group(1)},
            follow_redirects=False,
        )
        assert posted.status_code == 303
        location = posted.headers["location"]
        if "error=" not in location:
            return "ok"
        return self.client.get(location + f"&lang={lang}").text


@pytest.fixture
def view(view_database_url: str) -> Iterator[View]:
    settings = ViewSettings(
        database_url=view_database_url,
        seed_demo_users=True,
        demo_unit_codes=[MARKET, POLICE],
        bootstrap=None,
        login_max_failures_per_user=3,
        login_max_failures_per_address=5,
        login_window_minutes=10,
        login_lockout_minutes=15,
    )
    app = create_app(settings)
    with TestClient(app) as client:
        holder = View(client, app.state.view)
        holder.context.throttle.clock = lambda: holder.now
        yield holder


def _wrong(view: View, username: str = "prosecutor") -> int:
    return view.client.post("/api/auth/token",
                            json={"username": username, "password": "guess"}).status_code


# -- 1. rate limit and lockout ----------------------------------------------------------


def test_wrong_passwords_lock_the_user_even_against_the_right_one(view: View) -> None:
    assert [_wrong(view) for _ in range(2)] == [401, 401]
    locking = view.client.post("/api/auth/token",
                               json={"username": "prosecutor", "password": "guess"})
    assert locking.status_code == 429
    assert "请 15 分钟后再试" in locking.json()["detail"]
    assert "try again in 15 minutes" in locking.json()["detail"]
    assert locking.headers["Retry-After"] == str(15 * 60)
    right = view.client.post("/api/auth/token",
                             json={"username": "prosecutor", "password": DEFAULT_DEMO_PASSWORD})
    assert right.status_code == 429
    # The web form shares the lock and says so in the user's language.
    assert "请 15 分钟后再试" in view.login_form("prosecutor", DEFAULT_DEMO_PASSWORD)
    assert "try again in 15 minutes" in view.login_form("PROSECUTOR", DEFAULT_DEMO_PASSWORD,
                                                        lang="en")
    # The lock ends after the lockout (15 min), not before.
    view.tick(timedelta(minutes=14))
    assert _wrong(view) == 429
    view.tick(timedelta(minutes=1))
    assert view.token("prosecutor")


def test_every_attempt_is_audited_with_its_door_and_reason(view: View) -> None:
    for _ in range(3):
        _wrong(view)
    _wrong(view)  # refused while locked
    view.login_form("prosecutor", "guess")  # refused while locked, through the web form
    view.tick(timedelta(minutes=16))
    view.token("prosecutor")
    audits = view.audits()
    assert [(a.operation, a.target, a.query) for a in audits] == [
        (AuditOperation.LOGIN_FAILED, "api", "reason=credentials"),
        (AuditOperation.LOGIN_FAILED, "api", "reason=credentials"),
        (AuditOperation.LOGIN_FAILED, "api", "reason=credentials;locked"),
        (AuditOperation.LOGIN_FAILED, "api", "reason=locked"),
        (AuditOperation.LOGIN_FAILED, "view", "reason=locked"),
        (AuditOperation.LOGIN, "api", None),
    ]
    assert all(a.actor == "prosecutor" and a.client_address for a in audits)


def test_one_address_guessing_across_names_is_locked(view: View) -> None:
    names = ["a1", "a2", "a3", "a4"]
    assert [_wrong(view, name) for name in names] == [401, 401, 401, 401]
    assert _wrong(view, "a5") == 429  # fifth failure from this address
    # A name this address never tried is refused too: the address is locked.
    answer = view.client.post("/api/auth/token",
                              json={"username": "operations", "password": DEFAULT_DEMO_PASSWORD})
    assert answer.status_code == 429


def test_failures_outside_the_window_do_not_add_up(view: View) -> None:
    assert _wrong(view) == 401
    assert _wrong(view) == 401
    view.tick(timedelta(minutes=11))  # the window (10 min) has passed
    assert _wrong(view) == 401
    assert _wrong(view) == 401
    assert view.token("prosecutor")  # two failures in this window: not locked
    assert _wrong(view) == 401  # a success cleared the name's count


def test_stale_failure_counts_are_forgotten(view: View) -> None:
    from hub.view.store import LoginThrottleRow

    for name in ("typo-1", "typo-2"):
        assert _wrong(view, name) == 401
    view.tick(timedelta(days=2))
    assert _wrong(view, "typo-3") == 401
    with view.context.store.session() as session:
        keys = set(session.scalars(select(LoginThrottleRow.key)))
    assert keys == {"user:typo-3", "addr:testclient"}


# -- 2. sessions revoked at once --------------------------------------------------------


def test_logout_revokes_the_bearer_token(view: View) -> None:
    token = view.token("prosecutor")
    headers = {"Authorization": f"Bearer {token}"}
    assert view.client.get("/api/me", headers=headers).status_code == 200
    assert view.client.post("/api/auth/logout", headers=headers).status_code == 204
    assert view.client.get("/api/me", headers=headers).status_code == 401
    assert view.client.get("/api/cases", headers=headers).status_code == 401
    logouts = [a for a in view.audits() if a.operation is AuditOperation.LOGOUT]
    assert [(a.actor, a.target) for a in logouts] == [("prosecutor", "api")]


def test_web_logout_revokes_the_cookie_even_if_replayed(view: View) -> None:
    assert view.login_form("prosecutor", DEFAULT_DEMO_PASSWORD) == "ok"
    cookie = view.client.cookies.get("lf_session")
    assert cookie
    page = view.client.get("/cases")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    view.client.post("/logout", data={"csrf_token": csrf.group(1)}, follow_redirects=False)
    # A copy of the cookie taken before logout (a stolen one) no longer works.
    view.client.cookies.set("lf_session", cookie)
    replay = view.client.get("/cases", follow_redirects=False)
    assert replay.status_code == 303
    assert replay.headers["location"].startswith("/login")
    logouts = [a for a in view.audits() if a.operation is AuditOperation.LOGOUT]
    assert [(a.actor, a.target) for a in logouts] == [("prosecutor", "view")]


def test_the_login_cookie_ends_with_the_browser(view: View) -> None:
    """On a shared county workstation the next person opening the browser must not find
    the last one logged in: the session cookie carries no lifetime of its own (the
    server still ends the session after ``session_hours``), is HTTP-only and same-site."""
    page = view.client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    posted = view.client.post("/login", data={
        "username": "prosecutor", "password": DEFAULT_DEMO_PASSWORD,
        "csrf_token": csrf.group(1)}, follow_redirects=False)
    [cookie] = [value for name, value in posted.headers.multi_items()
                if name == "set-cookie" and value.startswith("lf_session=")]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert "max-age" not in attributes and "expires" not in attributes
    assert {"httponly", "samesite"} <= attributes


def test_disabling_a_user_or_changing_the_role_takes_effect_at_once(view: View) -> None:
    unit = {"Authorization": f"Bearer {view.token(README_UNIT_USER)}"}
    prosecutor = {"Authorization": f"Bearer {view.token('prosecutor')}"}
    assert view.client.get("/api/me", headers=unit).json()["role"] == "unit"
    with view.context.store.session() as session:
        user = session.get(UserRow, "prosecutor")
        assert user is not None
        user.role = "operations"
    assert view.client.get("/api/me", headers=prosecutor).json()["role"] == "operations"
    assert view.client.get("/api/cases", headers=prosecutor).status_code == 403
    with view.context.store.session() as session:
        user = session.get(UserRow, README_UNIT_USER.lower())
        assert user is not None
        user.active = False
    assert view.client.get("/api/me", headers=unit).status_code == 401


def test_a_token_signed_right_but_without_a_session_is_refused(view: View) -> None:
    with view.context.store.session() as session:
        user = session.get(UserRow, "prosecutor")
        assert user is not None
        forged, _ = view.context.signer.issue(user)  # a valid signature, no session row
    headers = {"Authorization": f"Bearer {forged}"}
    assert view.client.get("/api/me", headers=headers).status_code == 401


# -- 6. user names as the README writes them --------------------------------------------


def test_readme_user_name_logs_in_whatever_its_case(view: View) -> None:
    for spelling in (README_UNIT_USER, README_UNIT_USER.lower(), README_UNIT_USER.upper()):
        token = view.token(spelling)
        me = view.client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()
        assert me["username"] == README_UNIT_USER.lower()
        assert me["unit_code"] == MARKET
    assert view.login_form(README_UNIT_USER, DEFAULT_DEMO_PASSWORD) == "ok"


# -- 3. bounded numeric filters ---------------------------------------------------------


@pytest.mark.parametrize("value", ["1e999990", "9" * 5000, "1e3", "-5", "12.345", "NaN",
                                   "Infinity"])
def test_amount_filters_refuse_anything_but_a_plain_amount(view: View, value: str) -> None:
    view.login_form("prosecutor", DEFAULT_DEMO_PASSWORD)
    for field in ("amount_min", "amount_max"):
        page = view.client.get("/cases", params={field: value})
        assert page.status_code == 422
        assert "金额以元为单位" in page.text
        assert page.headers["content-type"].startswith("text/html")
    api = view.client.get("/api/cases", params={"amount_min_fen": value},
                          headers={"Authorization": f"Bearer {view.token('prosecutor')}"})
    assert api.status_code == 422
    assert api.json()["detail"][0]["loc"] == ["query", "amount_min_fen"]


def test_plain_amounts_still_filter(view: View) -> None:
    specs = [case_spec(i) for i in range(6)]
    with view.context.store.session() as session:
        apply_events(session, [s.state() for s in specs] + [s.penalty() for s in specs],
                     view.context.units)
    view.login_form("prosecutor", DEFAULT_DEMO_PASSWORD)
    everything = view.client.get("/cases", params={"amount_min": "0"})
    assert everything.status_code == 200
    assert "共找到 6 件" in everything.text
    nothing = view.client.get("/cases", params={"amount_min": "9,999,999,999,999.99"})
    assert nothing.status_code == 200
    assert "共找到 0 件" in nothing.text


def test_other_numeric_parameters_answer_422_in_html_and_json(view: View) -> None:
    view.login_form("prosecutor", DEFAULT_DEMO_PASSWORD)
    page = view.client.get("/alerts", params={"page": "1e999990"})
    assert page.status_code == 422
    assert "请求有误" in page.text
    headers = {"Authorization": f"Bearer {view.token('prosecutor')}"}
    for path, name in (("/api/cases", "page"), ("/api/alerts", "page_size"),
                       (f"/api/units/{MARKET}/scorecard", "months")):
        answer = view.client.get(path, params={name: "9" * 5000}, headers=headers)
        assert answer.status_code == 422, path
        assert answer.json()["detail"][0]["loc"][-1] == name


# -- 4. the dashboard trend is the unit's own -------------------------------------------


def test_dashboard_trend_shows_a_unit_user_only_its_own_figures(view: View) -> None:
    with view.context.store.session() as session:
        apply_events(session, [stats_for(MARKET, "2025-11", 7, 1, 2),
                               stats_for(POLICE, "2025-11", 100, 50, 40)], view.context.units)
    unit = view.client.get(
        "/api/dashboard", headers={"Authorization": f"Bearer {view.token(README_UNIT_USER)}"}
    ).json()
    county = view.client.get(
        "/api/dashboard", headers={"Authorization": f"Bearer {view.token('prosecutor')}"}
    ).json()
    unit_month = {p["month"]: p for p in unit["trend"]}["2025-11"]
    county_month = {p["month"]: p for p in county["trend"]}["2025-11"]
    assert unit_month["penalty_cases_entered"] == 7
    assert unit_month["referrals"] == 2
    assert county_month["penalty_cases_entered"] == 107


# -- 5. /docs under the view's own CSP --------------------------------------------------


def test_docs_serve_swagger_ui_from_the_view_itself(view: View) -> None:
    # fastapi-offline is a dependency (pyproject.toml): the assets must be found.
    assert view_app._swagger_ui_dir() is not None
    page = view.client.get("/docs")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    scripts = re.findall(r'<script([^>]*)>', page.text)
    assert scripts and all('src="/' in attributes for attributes in scripts)  # no inline
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    bundle = view.client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.text
    assert view.client.get("/docs/assets/swagger-ui.css").status_code == 200
    assert view.client.get("/docs/assets/index.html").status_code == 404
    assert view.client.get("/static/docs-init.js").status_code == 200
    assert view.client.get("/openapi.json").json()["info"]["title"]


def test_docs_without_swagger_ui_say_where_the_spec_is(
    view: View, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(view_app, "_swagger_ui_dir", lambda: None)
    page = view.client.get("/docs")
    assert page.status_code == 503
    assert 'href="/openapi.json"' in page.text
    assert "fastapi-offline" in page.text
    assert view.client.get("/docs/assets/swagger-ui-bundle.js").status_code == 404


# -- 7. HTML error pages for the web UI, JSON for the API -------------------------------


def test_web_pages_answer_errors_with_a_page_in_the_users_language(view: View) -> None:
    view.login_form(README_UNIT_USER, DEFAULT_DEMO_PASSWORD)
    forbidden = view.client.get("/reports")
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"].startswith("text/html")
    assert "无权访问" in forbidden.text and 'lang="zh' in forbidden.text
    english = view.client.get("/unmatched?lang=en")
    assert english.status_code == 403 and "Forbidden" in english.text
    missing = view.client.get("/no-such-page")
    assert missing.status_code == 404 and "未找到" in missing.text
    api = view.client.get("/api/unmatched")  # the cookie session, on the API
    assert api.status_code == 403
    assert api.json() == {"detail": "prosecutors only"}
    assert view.client.get("/api/no-such-route").json() == {"detail": "Not Found"}


# -- 8. a record the store refuses does not stop the view -------------------------------


def _record(topic: str, offset: int, event: object, key: str = "") -> DecodedRecord:
    return DecodedRecord(topic, 0, offset, key, event)  # type: ignore[arg-type]


def test_nul_in_an_event_is_replaced_and_noted_and_the_batch_applies(view: View) -> None:
    topics = view.context.settings.topics
    spec = case_spec(3)
    penalty = spec.penalty()
    party = penalty.parties[0].model_copy(update={"name": "演示\u0000公司"})
    poisoned = penalty.model_copy(update={"parties": [party]})
    state = spec.state().model_copy(update={"parties": [party]})
    records = [
        _record(topics.case_events, 0, poisoned, spec.case_id),
        _record(topics.case_state, 0, state, spec.case_id),
        _record(topics.stats, 0, stats_for(MARKET, "2025-10", 4, 0, 1)),
    ]
    assert apply_batch(view.context, records) == 3
    with view.context.store.session() as session:
        names = set(session.scalars(
            select(CasePartyRow.name).where(CasePartyRow.case_id == spec.case_id)))
        letters = session.scalars(select(DeadLetterRow).order_by(DeadLetterRow.id)).all()
        offsets = {(r.topic, r.partition): r.next_offset
                   for r in session.scalars(select(ConsumerOffsetRow))}
        stats = session.get(UnitStatsRow, (MARKET, "2025-10"))
    assert "演示\ufffd公司" in names
    assert {(letter.topic, letter.outcome) for letter in letters} == {
        (topics.case_events, "sanitised"), (topics.case_state, "sanitised")}
    assert all("NUL" in letter.reason for letter in letters)
    assert offsets[(topics.case_events, 0)] == 1 and offsets[(topics.stats, 0)] == 1
    assert stats is not None and stats.penalty_cases_entered == 4
    status = view.client.get("/api/status",
                             headers={"Authorization": f"Bearer {view.token('operations')}"})
    assert status.json()["dead_letters"] == {"sanitised": 2}


@pytest.mark.postgres
def test_a_record_postgres_refuses_is_dead_lettered_and_the_rest_applies(
    postgres_url: str, tmp_path: Path
) -> None:
    settings = ViewSettings(database_url=fresh_database(postgres_url), bootstrap=None)
    app = create_app(settings)
    with TestClient(app):
        context: ViewContext = app.state.view
        topic = settings.topics.stats
        # 3e9 does not fit PostgreSQL's integer column: the store refuses the record.
        refused = stats_for(MARKET, "2025-09", 3_000_000_000, 0, 0)
        records = [
            _record(topic, 10, stats_for(MARKET, "2025-08", 5, 0, 0)),
            _record(topic, 11, refused),
            _record(topic, 12, stats_for(POLICE, "2025-09", 6, 0, 0)),
        ]
        assert apply_batch(context, records) == 2
        with context.store.session() as session:
            letters = session.scalars(select(DeadLetterRow)).all()
            offset = session.get(ConsumerOffsetRow, (topic, 0))
            kept = {(r.unit_code, r.month) for r in session.scalars(select(UnitStatsRow))}
        assert [(x.offset, x.outcome) for x in letters] == [(11, "dead-lettered")]
        assert "out of range" in letters[0].reason
        assert offset is not None and offset.next_offset == 13
        assert kept == {(MARKET, "2025-08"), (POLICE, "2025-09")}


# -- administration: disable a user, lift a lockout -------------------------------------


def test_disable_user_and_unlock_from_the_command_line(view: View) -> None:
    from typer.testing import CliRunner

    from hub.view.cli import app as view_cli

    runner = CliRunner()
    url = view.context.settings.database_url
    headers = {"Authorization": f"Bearer {view.token(README_UNIT_USER)}"}
    result = runner.invoke(view_cli, ["disable-user", README_UNIT_USER.upper(),
                                      "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "disabled" in result.output
    assert view.client.get("/api/me", headers=headers).status_code == 401
    assert _wrong(view, README_UNIT_USER) == 401  # a disabled user cannot log in either
    answer = view.client.post("/api/auth/token",
                              json={"username": README_UNIT_USER,
                                    "password": DEFAULT_DEMO_PASSWORD})
    assert answer.status_code == 401
    # The demo seeding at the next start keeps the user disabled.
    from hub.view.auth import seed_users

    seed_users(view.context.store, view.context.settings)
    with view.context.store.session() as session:
        user = session.get(UserRow, README_UNIT_USER.lower())
        assert user is not None and user.active is False
    assert runner.invoke(view_cli, ["enable-user", README_UNIT_USER,
                                    "--database-url", url]).exit_code == 0
    # Two failures above plus this one lock the name (limit 3); unlock lifts it.
    assert _wrong(view, README_UNIT_USER) == 429
    result = runner.invoke(view_cli, ["unlock", "--username", README_UNIT_USER,
                                      "--database-url", url])
    assert result.exit_code == 0 and "cleared 1" in result.output, result.output
    assert view.token(README_UNIT_USER)
    missing = runner.invoke(view_cli, ["disable-user", "nobody", "--database-url", url])
    assert missing.exit_code == 1
    # Each change is audited (ADMIN_CHANGE, by the OS user), for the view's relay to send.
    changes = [(a.target, a.query) for a in view.audits()
               if a.operation is AuditOperation.ADMIN_CHANGE]
    assert changes == [
        (f"view disable-user: user {README_UNIT_USER.lower()}",
         "disabled; sessions revoked"),
        (f"view enable-user: user {README_UNIT_USER.lower()}", "active"),
        (f"view unlock: user {README_UNIT_USER}", "cleared 1 lockout record(s)")]
    assert all(a.actor.startswith("os:") for a in view.audits()
               if a.operation is AuditOperation.ADMIN_CHANGE)


def test_users_file_refuses_two_names_that_differ_only_in_case(tmp_path: Path) -> None:
    from hub.errors import ConfigError
    from hub.view.auth import hash_password, seed_users
    from hub.view.store import Store

    digest = hash_password("pw-123456")
    users = tmp_path / "users.yaml"
    users.write_text(
        f"- {{username: Zhang, role: prosecutor, password_hash: '{digest}'}}\n"
        f"- {{username: zhang, role: prosecutor, password_hash: '{digest}'}}\n",
        encoding="utf-8",
    )
    store = Store(f"sqlite:///{tmp_path / 'v.sqlite3'}")
    store.create_all()
    try:
        with pytest.raises(ConfigError) as refused:
            seed_users(store, ViewSettings(database_url=store.url, users_file=users))
        assert "users[1].username" in " ".join(refused.value.problems)
    finally:
        store.dispose()
