"""Sink configuration: the same short YAML as a source connector, with ``direction: sink``.

A sink config has the source config's ``id``, ``unit``, ``kind``, ``state_dir``,
``bootstrap`` and ``registry_url``; its ``target:`` block says where the unit's inbox goes.
``load_sink_config`` reports every problem at once (``target.url: field required``), like
``connectors.config.load_config``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from connectors.config import HttpAuth
from connectors.config import _problems as problems_of  # same YAML-path wording
from hub.errors import ConfigError
from hub.identity import is_valid_credit_code
from hub.security.acl import usable_connector_id
from hub.units import inbox_topic

#: Plain HTTP stays on this host: a local relay, or a test's receiving server.
_LOOPBACK_HTTP = re.compile(r"http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/|$)")

__all__ = ["FileTargetConfig", "HttpTargetConfig", "SinkConfig", "SqlTargetConfig",
           "is_sink_config", "load_sink_config", "parse_sink_config"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HttpTargetConfig(_Frozen):
    """POST each inbox event as JSON to the unit's endpoint.

    TLS is always verified: ``auth.ca_file`` is the CA the endpoint's certificate is
    checked against (a unit's system is often signed by a government CA no public bundle
    holds), ``auth.cert_file``/``key_file`` a client certificate when the unit asks for one.
    Plain ``http://`` only to this host's own loopback (a local relay or a test): inbox
    events carry names, ID numbers and case facts, and the request the credentials.
    """

    url: str
    auth: HttpAuth = Field(default_factory=HttpAuth)
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = Field(30.0, gt=0)
    #: Tries after the first on a connection error, a timeout, 408, 429 or 5xx, waiting
    #: ``retry_backoff_seconds`` doubled each time (at most 30 s). Then the session ends
    #: and restarts from the last committed offset: an event is never skipped for a
    #: target that is down, only a refused one (other 4xx) is dead-lettered.
    max_retries: int = Field(5, ge=0)
    retry_backoff_seconds: float = Field(0.5, ge=0)
    #: Dotted path of the unit system's own receipt number in a JSON answer (``data.id``).
    receipt_path: str | None = None

    @field_validator("url")
    @classmethod
    def _encrypted(cls, url: str) -> str:
        if url.startswith("https://") or _LOOPBACK_HTTP.match(url):
            return url
        raise ValueError("must be an https:// address (plain http:// only to 127.0.0.1, "
                         "localhost or [::1]): inbox events carry names, ID numbers and "
                         "case facts, and each request the unit's credentials")


class FileTargetConfig(_Frozen):
    """Write each inbox event as one file into a folder the unit's system imports from.

    The file is named after the event (``<type>-<event id>.<format>``), written under a
    dot-name and renamed into place, so the importer never sees half a file and the same
    event never lands twice. ``gbk`` is written as GB18030, as sources read it.
    """

    path: Path
    format: Literal["csv", "xlsx", "json"] = "csv"
    encoding: Literal["utf-8", "utf-8-sig", "gbk", "gb18030"] = "utf-8"
    #: Where the unit's importer moves files it has read; a file found there counts as
    #: delivered too (no second copy after the importer took the first).
    archive: Path | None = None
    #: CSV only: a cell a spreadsheet program would run as a formula (starting with
    #: ``=``, ``+``, ``-`` or ``@``, a signed number aside) gets a leading apostrophe, as
    #: people open file drops in a spreadsheet too (``hub/spreadsheet.py``). Set false
    #: when only the unit's system reads the files and must get the text unchanged.
    #: XLSX cells are typed as text instead, their text unchanged.
    formulas_as_text: bool = True


class SqlTargetConfig(_Frozen):
    """Insert each inbox event as one row, the event id its primary key (any SQLAlchemy URL)."""

    url: SecretStr
    table: str = Field("liangfa_inbox", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    #: Create the table when missing (columns: event_id, event_type, case_id,
    #: occurred_at, payload, delivered_at).
    create_table: bool = True


_TARGET_MODELS: dict[str, type[_Frozen]] = {
    "http": HttpTargetConfig, "file": FileTargetConfig, "sql": SqlTargetConfig}


class SinkConfig(_Frozen):
    """One sink instance: the unit's inbox into one target, under the unit's principal."""

    id: Annotated[str, AfterValidator(usable_connector_id)] = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    unit: str
    direction: Literal["sink"] = "sink"
    kind: Literal["http", "file", "sql"]
    target: HttpTargetConfig | FileTargetConfig | SqlTargetConfig
    #: The ingest stream the receipts go to: ``lf.ingest.<unit>.<receipts_stream>``.
    receipts_stream: str = Field("delivery-receipts", pattern=r"^[a-z0-9][a-z0-9-]*$")
    #: Topic read instead of ``lf.inbox.<unit>`` (tests and drills only).
    topic: str | None = None
    state_dir: Path = Path("state")
    poll_interval_seconds: float = Field(2.0, gt=0)
    metrics_port: int | None = Field(None, ge=0, le=65535)
    bootstrap: str | None = None
    registry_url: str | None = None

    @field_validator("unit")
    @classmethod
    def _unit_code(cls, value: str) -> str:
        if not is_valid_credit_code(value):
            raise ValueError(f"{value!r} is not a valid 统一社会信用代码 (unified social "
                             "credit code, GB 32100-2015)")
        return value.upper()

    @property
    def inbox(self) -> str:
        return self.topic or inbox_topic(self.unit)

    @property
    def group_id(self) -> str:
        """Starts with the unit's code: the only groups its principal may use (acl.py)."""
        return f"{self.unit}.sink.{self.id}"


def is_sink_config(raw: Any) -> bool:
    """Whether a parsed YAML mapping is a sink (``direction: sink`` or a ``target:``)."""
    return isinstance(raw, dict) and (raw.get("direction") == "sink" or "target" in raw)


def parse_sink_config(raw: Any, *, origin: str = "config") -> SinkConfig:
    """Validate a sink mapping; every problem is reported in one ConfigError."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: expected a YAML mapping", ["(top): not a mapping"])
    data = dict(raw)
    problems: list[str] = []
    kind = data.get("kind")
    model = _TARGET_MODELS.get(kind) if isinstance(kind, str) else None
    if model is not None:
        try:
            data["target"] = model.model_validate(data.get("target") or {})
        except ValidationError as exc:
            problems += problems_of(exc, "target")
            data.pop("target", None)
    try:
        config = SinkConfig.model_validate(data)
    except ValidationError as exc:
        problems += [p for p in problems_of(exc) if model is None or not p.startswith("target")]
        config = None
    if problems or config is None:
        raise ConfigError(f"{origin}: {len(problems)} problem(s)", problems)
    return config


def load_sink_config(path: Path) -> SinkConfig:
    """Read and validate a sink YAML file (relative paths resolve from its folder)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", [f"(file): {exc}"]) from exc
    if isinstance(raw, dict):
        raw = dict(raw)
        target = raw.get("target")
        if isinstance(target, dict):
            target = dict(target)
            for key in ("path", "archive"):
                if isinstance(target.get(key), str) and not Path(target[key]).is_absolute():
                    target[key] = str(path.parent / target[key])
            raw["target"] = target
        state = raw.get("state_dir")
        if isinstance(state, str) and not Path(state).is_absolute():
            raw["state_dir"] = str(path.parent / state)
    return parse_sink_config(raw, origin=str(path))
