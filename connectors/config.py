"""Connector configuration: one YAML file per connector, validated all at once.

``load_config`` reports every problem in one :class:`~hub.errors.ConfigError`, each with
its YAML path (``source.path: field required``), so an agency's IT team fixes a config in
one round instead of one error per run. Models are frozen; secrets are ``SecretStr``.
"""

from __future__ import annotations

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
    model_validator,
)

from connectors.mapping import DispatchSpec, MappingSpec, merge_mappings
from hub.errors import ConfigError
from hub.identity import is_valid_credit_code
from hub.security.acl import usable_connector_id

__all__ = [
    "ConnectorConfig",
    "FileLimits",
    "FileSourceConfig",
    "HttpAuth",
    "HttpPagination",
    "HttpSourceConfig",
    "SqlSourceConfig",
    "XmlSourceConfig",
    "available_presets",
    "load_config",
    "load_preset",
    "parse_config",
]

PRESETS_DIR = Path(__file__).with_name("presets")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FileLimits(_Frozen):
    """What one dropped file may cost, so that no file can stop the connector.

    The defaults fit a 2-core agency host: a file beyond them is refused as a whole
    (moved to the quarantine folder with its reason, one dead-letter record) before it
    can take the host's memory or CPU. A single cell over ``max_field_chars`` refuses
    only its row.
    """

    #: Bytes of one file on disk (a 5 million-row 双公示 CSV is about 3 GB).
    max_file_bytes: int = Field(4 << 30, ge=1)
    #: Data rows of one file (every ``<row>`` of an XLSX sheet counts, empty or not).
    max_rows: int = Field(5_000_000, ge=1)
    #: Characters of one cell; a longer cell refuses its row (csv's own default limit).
    max_field_chars: int = Field(131_072, ge=1)
    #: Bytes of one CSV record (a quote left open swallows the rest of the file).
    max_record_bytes: int = Field(4 << 20, ge=1)
    #: XLSX: consecutive empty rows (each costs a parse; 2 million of them fit in 281 KB).
    max_empty_rows: int = Field(10_000, ge=1)
    #: XLSX: bytes of all its parts once decompressed.
    max_uncompressed_bytes: int = Field(512 << 20, ge=1)
    #: XLSX: decompressed / compressed size of one part over 1 MiB (Apache POI refuses
    #: above 100 too: real sheets compress 5-20 times, zip bombs thousands of times).
    max_compression_ratio: float = Field(100.0, gt=1)


class _DropFolderConfig(_Frozen):
    path: Path
    archive: Path | None = None
    #: Where refused files go, each with a ``.reason.txt`` beside it; by default a folder
    #: beside the drop folder (``<drop>-quarantine``), so nothing in it is read again.
    quarantine: Path | None = None
    settle_seconds: float = Field(
        5.0, ge=0,
        description="A file is read once unchanged (size, mtime, ctime) between two polls, "
        "or at first sight when nothing about it changed for this long (a copy that keeps "
        "the source's mtime still waits: its ctime is the copy's).")
    limits: FileLimits = Field(default_factory=FileLimits)

    def archive_dir(self) -> Path:
        return self.archive or self.path / "archive"

    def quarantine_dir(self) -> Path:
        if self.quarantine is not None:
            return self.quarantine
        folder = self.path.absolute()
        return folder.with_name(f"{folder.name}-quarantine")


class FileSourceConfig(_DropFolderConfig):
    """A drop folder of CSV / XLSX exports.

    ``gbk`` is read as GB18030, its superset: names with characters outside GBK (𠮷)
    are common, and a GBK export cannot hold them only because the exporter replaced them.
    """

    pattern: str = "*.csv"
    encoding: Literal["auto", "utf-8", "utf-8-sig", "gbk", "gb18030"] = "auto"
    sheet: str | None = None
    delimiter: str = Field(",", min_length=1, max_length=1)


class XmlSourceConfig(_DropFolderConfig):
    """A drop folder of XML exports; ``record_tag`` is the element of one record."""

    pattern: str = "*.xml"
    record_tag: str


class HttpAuth(_Frozen):
    """Bearer token or basic credentials, and/or a client certificate."""

    bearer_token: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    ca_file: Path | None = None


class HttpPagination(_Frozen):
    """How the API pages: ``page`` numbers, ``offset``/limit, or an opaque ``cursor``."""

    kind: Literal["none", "page", "offset", "cursor"] = "none"
    page_param: str = "page"
    first_page: int = 1
    size_param: str = "size"
    page_size: int = Field(100, ge=1)
    offset_param: str = "offset"
    cursor_param: str = "cursor"
    next_cursor_path: str = "next_cursor"


class HttpSourceConfig(_Frozen):
    """An agency API polled with GET."""

    url: str = Field(pattern=r"^https?://")
    records_path: str = ""
    pagination: HttpPagination = Field(default_factory=HttpPagination)
    since_param: str | None = Field(
        None, description="Query parameter that asks for records after a stamp.")
    since_field: str | None = Field(
        None, description="Dotted path of each record's stamp; the newest one seen (numbers "
        "as numbers, ISO 8601 times as instants, other text as text) is asked after in "
        "the next pass.")
    auth: HttpAuth = Field(default_factory=HttpAuth)
    headers: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    rate_limit_per_second: float | None = Field(None, gt=0)
    #: Seconds a connect or a read may wait (httpx's timeout, per operation).
    timeout_seconds: float = Field(30.0, gt=0)
    #: Seconds one request may take in all, body included: a server trickling a byte at
    #: a time never trips the per-operation timeout, this bound it.
    deadline_seconds: float = Field(120.0, gt=0)
    #: Tries after the first for a transient answer (connection, timeout, 5xx, 429, an HTML
    #: page, non-JSON, an error envelope) within one poll, waiting ``retry_backoff_seconds``
    #: doubled each time (at most 30 s) or the server's ``Retry-After``.
    max_retries: int = Field(5, ge=0)
    retry_backoff_seconds: float = Field(0.5, ge=0)
    #: Cap on a ``Retry-After`` the connector honours (a server asking for a day waits
    #: for the next poll instead).
    max_retry_after_seconds: float = Field(120.0, ge=0)
    #: A body (after content decoding: a gzip bomb counts inflated) over this is refused.
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    #: Redirects followed per request; more (a loop) is a refused answer.
    max_redirects: int = Field(5, ge=0)
    #: An error envelope in a 200 answer: the value at ``error_path`` must be one of
    #: ``ok_values`` (``{"code": "0000", "msg": ...}`` → ``error_path: code``,
    #: ``ok_values: ["0000"]``). Without it, a truthy ``error``/``errors`` or
    #: ``"success": false`` at the top level marks one.
    error_path: str | None = None
    ok_values: tuple[str, ...] = ()
    #: After a poll that ended on a refused answer, polls are skipped for this long,
    #: doubling with each failed poll up to ``max_failed_poll_backoff_seconds`` (0: never
    #: skip): a dead endpoint costs a dead letter per backoff, not one per poll.
    failed_poll_backoff_seconds: float = Field(30.0, ge=0)
    max_failed_poll_backoff_seconds: float = Field(600.0, ge=0)

    @model_validator(mode="after")
    def _envelope_has_ok_values(self) -> HttpSourceConfig:
        if self.error_path and not self.ok_values:
            raise ValueError("error_path needs ok_values: the codes of a good answer")
        return self


class SqlSourceConfig(_Frozen):
    """Incremental reads by a high-water-mark column plus a tie-breaker (any SQLAlchemy URL)."""

    url: SecretStr
    table: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")
    watermark_column: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    tie_breaker_column: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    columns: tuple[str, ...] = ()
    where: str | None = None
    batch_size: int = Field(1000, ge=1)
    payload_column: str | None = None

    @field_validator("columns")
    @classmethod
    def _plain_columns(cls, columns: tuple[str, ...]) -> tuple[str, ...]:
        for column in columns:
            if not column.replace("_", "").isalnum():
                raise ValueError(f"{column!r} is not a plain column name")
        return columns


_SOURCE_MODELS: dict[str, type[_Frozen]] = {
    "file": FileSourceConfig,
    "http": HttpSourceConfig,
    "sql": SqlSourceConfig,
    "xml": XmlSourceConfig,
}


class ConnectorConfig(_Frozen):
    """One connector instance: one process, one source, one mapping, one stream."""

    id: Annotated[str, AfterValidator(usable_connector_id)] = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    unit: str
    kind: Literal["file", "http", "sql", "xml"]
    source: FileSourceConfig | HttpSourceConfig | SqlSourceConfig | XmlSourceConfig
    preset: str | None = None
    mapping: MappingSpec | DispatchSpec
    state_dir: Path = Path("state")
    poll_interval_seconds: float = Field(10.0, gt=0)
    metrics_port: int | None = Field(None, ge=0, le=65535)
    checkpoint_every_records: int = Field(5000, ge=1)
    checkpoint_every_seconds: float = Field(2.0, gt=0)
    validate_events: bool = True
    #: Processes that map, validate and encode rows (``connectors.parallel``); unset: up
    #: to 4 for file exports (``default_workers``), 1 for other kinds. 1 maps in-process.
    workers: int | None = Field(None, ge=1, le=64)
    #: Rows per chunk handed to a mapping process (only when ``workers`` > 1).
    worker_chunk_rows: int = Field(2000, ge=1, le=100_000)
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
    def stream(self) -> str:
        return self.mapping.stream


def available_presets() -> list[str]:
    """Names of the presets shipped in ``connectors/presets``."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_preset(name: str) -> dict[str, Any]:
    """The raw mapping of a shipped preset; ``KeyError`` lists the known ones."""
    path = PRESETS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(available_presets())}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise KeyError(f"preset {name!r} is not a mapping")
    data.pop("description", None)
    return data


def _problems(error: ValidationError, prefix: str = "") -> list[str]:
    lines = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"])
        path = ".".join(p for p in (prefix, location) if p)
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{path or '(top)'}: {message}")
    return lines


def parse_config(raw: Any, *, origin: str = "config") -> ConnectorConfig:
    """Validate a config mapping; every problem is reported in one ConfigError."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: expected a YAML mapping", ["(top): not a mapping"])
    data = dict(raw)
    problems: list[str] = []
    kind = data.get("kind")
    source_model = _SOURCE_MODELS.get(kind) if isinstance(kind, str) else None
    source: Any = data.get("source")
    if source_model is not None:
        try:
            source = source_model.model_validate(source if source is not None else {})
        except ValidationError as exc:
            problems.extend(_problems(exc, "source"))
            source = None
    mapping_raw: Any = data.get("mapping")
    preset = data.get("preset")
    if preset is not None:
        try:
            preset_mapping = load_preset(str(preset))
        except KeyError as exc:
            problems.append(f"preset: {exc.args[0]}")
            preset_mapping = None
        if preset_mapping is not None:
            if isinstance(mapping_raw, dict) and mapping_raw.get("replace"):
                mapping_raw = {k: v for k, v in mapping_raw.items() if k != "replace"}
            else:
                mapping_raw = merge_mappings(
                    preset_mapping, mapping_raw if isinstance(mapping_raw, dict) else {})
    elif mapping_raw is None:
        problems.append("mapping: give a preset or a mapping")
    mapping: Any = None
    if mapping_raw is not None:
        try:
            if isinstance(mapping_raw, dict) and "routes" in mapping_raw:
                mapping = DispatchSpec.model_validate(mapping_raw)
            else:
                mapping = MappingSpec.model_validate(mapping_raw)
        except ValidationError as exc:
            problems.extend(_problems(exc, "mapping"))
    data["source"] = source
    data["mapping"] = mapping
    try:
        config = ConnectorConfig.model_validate(
            {k: v for k, v in data.items() if v is not None or k not in ("source", "mapping")})
    except ValidationError as exc:
        # source and mapping were validated above with their own paths.
        problems.extend(p for p in _problems(exc)
                        if not p.startswith(("source", "mapping")))
        config = None
    if problems or config is None:
        raise ConfigError(f"{origin}: {len(problems)} problem(s)", problems)
    return config


def load_config(path: Path) -> ConnectorConfig:
    """Read and validate a connector YAML file (relative paths resolve from its folder)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", [f"(file): {exc}"]) from exc
    if isinstance(raw, dict):
        raw = _resolve_paths(raw, path.parent)
    return parse_config(raw, origin=str(path))


def _resolve_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    data = dict(raw)
    source = data.get("source")
    if isinstance(source, dict):
        source = dict(source)
        for key in ("path", "archive", "quarantine"):
            if isinstance(source.get(key), str) and not Path(source[key]).is_absolute():
                source[key] = str(base / source[key])
        data["source"] = source
    if isinstance(data.get("state_dir"), str) and not Path(data["state_dir"]).is_absolute():
        data["state_dir"] = str(base / data["state_dir"])
    return data
