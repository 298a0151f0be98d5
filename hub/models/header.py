"""The common event header and the validated field types every event model reuses.

Every case event carries the same header, flattened at the top level of its Avro record,
so that routing, deduplication and deadline processors can read any event without
knowing its type. The field types here check identifiers at the edge (connectors build
models from agency exports): a wrong check digit is caught where the clerk can still fix
the row, not three hops downstream.

Validation errors name the field and the offending value, because the message ends up in
a dead-letter header that an agency's IT team reads.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo

from hub.identity import credit_code_problem, division_code_problem, resident_id_problem

__all__ = [
    "AVRO_NAMESPACE",
    "CHINA_TZ",
    "STORED_CONTEXT",
    "AmountFen",
    "AvroRecord",
    "CaseEvent",
    "DecimalString",
    "DivisionCode",
    "EventEnum",
    "Instant",
    "PartyCreditCode",
    "PastDate",
    "PastInstant",
    "ResidentIdNumber",
    "UnitCode",
    "canonical_resident_id",
    "read_back",
    "resident_id_error",
]

#: Namespace of every record, enum and nested type of the event contract.
AVRO_NAMESPACE = "cn.liangfa.events"
#: Legal dates and deadlines are China dates.
CHINA_TZ = ZoneInfo("Asia/Shanghai")
#: Clock skew tolerated between an agency's server and the hub before "future" is an error.
_FUTURE_TOLERANCE = timedelta(minutes=10)
_DECIMAL_RE = re.compile(r"^-?\d+(\.\d+)?$")


def _field(info: ValidationInfo) -> str:
    return info.field_name or "value"


#: Validation context of events and parties the hub wrote itself and reads back (a case
#: document's stored events, an aggregate's parties): ``model_validate(data,
#: context=STORED_CONTEXT)``. Identifiers in them were judged by the rules in force when
#: they were written and are kept as written: a rule added since (a birth date that must
#: be a date, a province that must exist) would otherwise drop a case's legal history or
#: make its document unreadable after an upgrade, and normalising them now would give an
#: event read back other content than the event its id was made for.
STORED_CONTEXT: Mapping[str, Any] = {"stored": True}


def read_back(info: Any) -> bool:
    """True when validating data under :data:`STORED_CONTEXT`. ``info`` may be the
    connectors' compiled validator's stand-in, which has no context (a mapped row)."""
    context = getattr(info, "context", None)
    return isinstance(context, Mapping) and context.get("stored") is True


def _check_unit_code(value: str, info: ValidationInfo) -> str:
    if read_back(info):
        return value
    problem = credit_code_problem(value)
    if problem is not None:
        raise ValueError(
            f"{_field(info)}: {value!r} is not a valid 统一社会信用代码 (unified social credit "
            f"code, GB 32100-2015): {problem}"
        )
    return value.upper()


def _check_party_credit_code(value: str, info: ValidationInfo) -> str:
    if read_back(info):
        return value
    problem = credit_code_problem(value, allow_placeholder=True)
    if problem is not None:
        raise ValueError(
            f"{_field(info)}: {value!r} is not a valid 统一社会信用代码 (unified social credit "
            f"code, GB 32100-2015) nor the sole-trader placeholder 00000000000000000X: "
            f"{problem}"
        )
    return value.upper()


def resident_id_error(field: str, value: str) -> str | None:
    """The message refusing ``value`` as a resident ID number in ``field``, or None."""
    problem = resident_id_problem(value)
    if problem is None:
        return None
    return (f"{field}: {value!r} is not a valid 居民身份证号码 (resident ID, GB 11643-1999: "
            f"address code, birth date, sequence, check character): {problem}")


def canonical_resident_id(value: str) -> str:
    """A valid resident ID as stored: the check character x written X (the standard's
    character; the mapped row, from which the event id is hashed, is unchanged)."""
    return value[:17] + "X" if value[17] == "x" else value


def _check_resident_id(value: str, info: ValidationInfo) -> str:
    if read_back(info):
        return value
    error = resident_id_error(_field(info), value)
    if error is not None:
        raise ValueError(error)
    return canonical_resident_id(value)


def _check_division_code(value: str, info: ValidationInfo) -> str:
    if read_back(info):
        return value
    problem = division_code_problem(value)
    if problem is not None:
        raise ValueError(
            f"{_field(info)}: {value!r} is not a 6-digit 行政区划代码 (GB/T 2260 division "
            f"code): {problem}"
        )
    return value


def _check_non_negative(value: int, info: ValidationInfo) -> int:
    if value < 0:
        raise ValueError(f"{_field(info)}: {value!r} is negative; amounts are fen (分) >= 0")
    return value


def _check_decimal(value: str, info: ValidationInfo) -> str:
    text = value.strip()
    if not _DECIMAL_RE.match(text):
        raise ValueError(
            f"{_field(info)}: {value!r} is not a plain decimal number such as '3.5' or '200000'"
        )
    return text


_clock: list[Any] = [0.0, None]  # [time.monotonic() of the reading, the China time read]


def _china_now() -> datetime:
    """China time, read at most every 50 ms: the future checks below run on every
    validated event and compare against a 10-minute tolerance (dates: a whole day), so a
    reading a few milliseconds old changes no decision and saves a zone conversion."""
    tick = time.monotonic()
    if tick - _clock[0] > 0.05 or _clock[1] is None:
        _clock[0], _clock[1] = tick, datetime.now(CHINA_TZ)
    now: datetime = _clock[1]
    return now


def _check_past_date(value: date, info: ValidationInfo) -> date:
    today = _china_now().date()
    if value > today:
        raise ValueError(
            f"{_field(info)}: {value.isoformat()} is in the future (today in China is "
            f"{today.isoformat()}); a decision cannot be dated after today"
        )
    return value


def _check_past_instant(value: datetime, info: ValidationInfo) -> datetime:
    now = _china_now()
    if value > now + _FUTURE_TOLERANCE:
        # The day, not the second: the same row read twice gives the same reason (a row
        # mapped by the native path and again in Python straddled a second and differed).
        raise ValueError(
            f"{_field(info)}: {value.isoformat()} is in the future (today in China is "
            f"{now.date().isoformat()}); a decision cannot happen after it is read"
        )
    return value


#: 统一社会信用代码 of a unit (agency, police unit, procuratorate, court), check digit verified.
UnitCode = Annotated[str, AfterValidator(_check_unit_code)]
#: 统一社会信用代码 of a party; the 双公示 sole-trader placeholder (17 zeros and X) is allowed.
PartyCreditCode = Annotated[str, AfterValidator(_check_party_credit_code)]
#: 18-character resident ID number, check character verified.
ResidentIdNumber = Annotated[str, AfterValidator(_check_resident_id)]
#: GB/T 2260 administrative division code.
DivisionCode = Annotated[str, AfterValidator(_check_division_code)]
#: Money in integer fen (分): never a float, never negative.
AmountFen = Annotated[int, AfterValidator(_check_non_negative)]
#: An exact decimal number carried as text (quantities: kg, m³, mu, cigarettes...).
DecimalString = Annotated[str, AfterValidator(_check_decimal)]
#: A legal decision date: not after today (China time).
PastDate = Annotated[date, AfterValidator(_check_past_date)]
#: A timezone-aware instant.
Instant = AwareDatetime
#: A timezone-aware instant of a decision: not after now (10 minutes of clock skew allowed).
PastInstant = Annotated[AwareDatetime, AfterValidator(_check_past_instant)]


class EventEnum(StrEnum):
    """Base of every enum in the contract.

    Each enum has an ``UNKNOWN`` member, the Avro enum ``default``: a consumer with an
    older schema reads a newer symbol as ``UNKNOWN`` instead of failing.
    """


class AvroRecord(BaseModel):
    """Base of every record of the contract, events and nested records alike.

    ``to_avro`` returns what fastavro writes directly (enums are ``str`` subclasses,
    datetimes aware, dates plain). ``from_avro`` trusts data that a schema-checked
    decoder produced and skips validation unless asked: it was validated when it was
    produced, and re-validating on every read would make decoding several times slower.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=False)

    #: Full Avro name (namespace + record name); subject name under RecordNameStrategy.
    avro_name: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "avro_name" not in cls.__dict__:
            cls.avro_name = f"{AVRO_NAMESPACE}.{cls.__name__}"

    def to_avro(self) -> dict[str, Any]:
        """The record as fastavro's writer takes it."""
        return _deconstruct(self)

    @classmethod
    def from_avro(cls, data: dict[str, Any], *, validate: bool = False) -> Self:
        """Build the model from a decoded Avro record.

        ``validate=True`` runs every validator (use it for data of unknown origin).
        """
        if validate:
            return cls.model_validate(data)
        return _construct(cls, data)


class CaseEvent(AvroRecord):
    """The common header of every case event (公共事件头), flattened into each record."""

    event_id: str = Field(
        description="Event id 事件编号: deterministic UUID (hub.identity.event_id_for) of "
        "source, natural key and content hash, so a re-read export yields no duplicate."
    )
    case_id: str = Field(
        description="Case id 案件标识: deterministic UUID (hub.identity.case_id_for) of the "
        "owning unit's code and its case or decision number; the Kafka key. Events about no "
        "single case (statistics, audit) use case_id_for of their subject."
    )
    source_unit: UnitCode = Field(
        description="Source unit 来源单位: 统一社会信用代码 (unified social credit code) of "
        "the unit whose system produced the event; must match the ingest topic's unit."
    )
    occurred_at: PastInstant = Field(
        description="Occurred at 发生时间: the legal time of the act or decision (for a "
        "date-only decision, midnight China time of that date); deadlines count from it."
    )
    recorded_at: Instant = Field(
        description="Recorded at 录入时间: when the hub first read the record from the source "
        "system; occurred_at to recorded_at is the entry delay the timeliness rules check."
    )
    source_system: str = Field(
        description="Source system 来源系统: name of the agency system the record came from "
        "(e.g. a case-handling system or the sharing platform's export)."
    )
    source_record: str = Field(
        description="Source record 来源记录: where in the source the record is (file#row, "
        "cursor, primary key), so a person can find the original row."
    )
    connector_id: str = Field(
        description="Connector id 连接器标识: the connector instance that produced the event "
        "(also names its dead-letter topic lf.dlq.<connector_id>)."
    )

    def kafka_key(self) -> bytes:
        """The record key: every event of a case lands on the same partition, in order."""
        return self.case_id.encode("utf-8")

    def occurred_on(self) -> date:
        """The China date of ``occurred_at``: legal deadlines count in China dates."""
        return self.occurred_at.astimezone(CHINA_TZ).date()


# The Avro bridge needs AvroRecord defined first; imported here, once, rather than inside
# to_avro/from_avro, where an import statement would cost on every record.
from hub.models._avro import construct as _construct  # noqa: E402
from hub.models._avro import deconstruct as _deconstruct  # noqa: E402
