"""The view's small parts: message catalogues, sessions and CSRF, users file, unit names."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import get_args

import pytest

from hub.errors import ConfigError
from hub.models import EVENT_TYPES, AlertKind, CaseStage, ProsecutorialActionKind
from hub.view.auth import SessionSigner, authenticate, hash_password, seed_users
from hub.view.i18n import Translator, catalogue
from hub.view.schemas import ProsecutorAction
from hub.view.settings import ViewSettings
from hub.view.store import Store, UserRow, utc_now
from hub.view.units import UnitDirectory, default_units_file

TEMPLATES = Path(__file__).resolve().parents[2] / "hub" / "view" / "templates"


def test_catalogues_have_the_same_keys() -> None:
    assert set(catalogue("zh")) == set(catalogue("en"))


def test_every_key_a_template_uses_is_translated() -> None:
    used: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        found = re.findall(r"\bt\('([a-z_.]+)'", template.read_text(encoding="utf-8"))
        # 'alert_status.' ~ value is completed at run time: only whole keys are checked here.
        used |= {key for key in found if not key.endswith((".", "_"))}
    assert used, "templates use the catalogue"
    for language in ("zh", "en"):
        missing = sorted(key for key in used if key not in catalogue(language))
        assert missing == [], (language, missing)


def test_every_code_shown_in_the_ui_has_a_name() -> None:
    for language in ("zh", "en"):
        names = catalogue(language)
        assert {k.value for k in AlertKind} <= {k.split(".", 1)[1] for k in names
                                               if k.startswith("alert_kind.")}
        assert {s.value for s in CaseStage} <= {k.split(".", 1)[1] for k in names
                                               if k.startswith("stage.")}
        case_events = {name.rsplit(".", 1)[1] for name in EVENT_TYPES} - {
            "Alert", "CaseState", "UnitMonthlyStats", "FeedbackUnmatched", "ViewAction",
            "AuditRecorded"}
        assert case_events <= {k.split(".", 1)[1] for k in names if k.startswith("event_type.")}


def test_translator_falls_back_to_chinese_then_to_the_key() -> None:
    english = Translator("en")
    assert english("nav.cases") == "Cases"
    assert Translator("zh")("nav.cases") == "案件查询"
    assert english("no.such.key") == "no.such.key"
    assert english.label("stage", "FILED") == "Filed"
    assert english.label("stage", "NEW_STAGE") == "NEW_STAGE"
    assert Translator("fr")("nav.cases") == "案件查询"
    assert english("cases.found", count=3) == "3 cases found"


def test_prosecutor_actions_are_the_contracts_action_kinds() -> None:
    assert set(get_args(ProsecutorAction)) == {
        kind.value for kind in ProsecutorialActionKind} - {"UNKNOWN"}


def test_session_tokens_are_signed_and_expire(tmp_path: Path) -> None:
    signer = SessionSigner("secret-one", timedelta(hours=1))
    user = UserRow(username="李检", password_hash="x", role="prosecutor", unit_code=None,
                   display_name="李检察官", active=True)
    token, expires = signer.issue(user)
    principal = signer.verify(token, "bearer")
    assert principal is not None and principal.username == "李检" and principal.sees_all_cases
    assert signer.verify(token, "bearer", now=expires + timedelta(seconds=1)) is None
    body, signature = token.split(".")
    assert signer.verify(body[:-2] + "AA." + signature, "bearer") is None
    assert SessionSigner("secret-two", timedelta(hours=1)).verify(token, "bearer") is None
    csrf = signer.csrf_token(token)
    assert signer.csrf_valid(token, csrf)
    other, _ = signer.issue(user, now=utc_now() + timedelta(seconds=5))
    assert not signer.csrf_valid(other, csrf)
    assert not signer.csrf_valid(token, None)


def test_users_file_problems_are_reported_together(tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    users.write_text(
        "users:\n"
        "  - {username: a, role: judge, password_hash: '$argon2id$x'}\n"
        "  - {username: b, role: unit, password_hash: plain}\n",
        encoding="utf-8",
    )
    store = Store(f"sqlite:///{tmp_path / 'v.sqlite3'}")
    store.create_all()
    with pytest.raises(ConfigError) as raised:
        seed_users(store, ViewSettings(database_url=store.url, users_file=users))
    problems = "\n".join(raised.value.problems)
    assert "users[0].role" in problems
    assert "users[1].unit_code" in problems and "users[1].password_hash" in problems


def test_users_file_users_log_in_with_their_argon2_hash(tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    users.write_text(
        "users:\n"
        f"  - username: 市监局用户\n    role: unit\n    unit_code: '11429901030089405N'\n"
        f"    password_hash: '{hash_password('正确的密码')}'\n",
        encoding="utf-8",
    )
    store = Store(f"sqlite:///{tmp_path / 'v.sqlite3'}")
    store.create_all()
    assert seed_users(store, ViewSettings(database_url=store.url, users_file=users)) == [
        "市监局用户"]
    user = authenticate(store, "市监局用户", "正确的密码")
    assert user is not None and user.unit_code == "11429901030089405N"
    assert authenticate(store, "市监局用户", "错误") is None
    assert authenticate(store, "nobody", "正确的密码") is None
    store.dispose()


def test_unit_names_come_from_the_registry(tmp_path: Path) -> None:
    units = UnitDirectory.load(default_units_file())
    assert units.name("11429901031594016T") == "演示县人民检察院"
    assert units.name("11429901031594016T", "en").startswith("Demo County People's")
    assert units.name("UNKNOWNCODE0000000") == "UNKNOWNCODE0000000"
    assert units.first_of_kind("procuratorate") is not None
    broken = tmp_path / "units.yaml"
    broken.write_text("units:\n  - {code: X}\n  - {name: Y}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        UnitDirectory.load(broken)
    assert len(raised.value.problems) == 2


def test_view_without_an_operator_unit_refuses_to_start(tmp_path: Path) -> None:
    from hub.view.context import ViewContext

    empty = tmp_path / "units.yaml"
    empty.write_text("units: []\n", encoding="utf-8")
    settings = ViewSettings(database_url=f"sqlite:///{tmp_path / 'v.sqlite3'}",
                            units_file=empty)
    with pytest.raises(ConfigError, match="procuratorate"):
        ViewContext.build(settings)
