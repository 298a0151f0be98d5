"""Missing-entry thresholds (``missing_entry.yaml``): when a silence or a gap is news.

The reports' first failure is what never reaches the platform. The hub can only infer
it (a unit that stopped, a number skipped, a referral the police know and the agency
never entered), so every number here is an operator setting, not a legal period, and
each section names the document the duty to enter rests on.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field

from hub.rules._common import Sourced
from hub.rules._loader import RuleFile, RuleModel

__all__ = [
    "MISSING_ENTRY_ENV",
    "MissingEntryParameters",
    "NumberGapRule",
    "SilentUnitRule",
    "UnenteredReferralRule",
    "load_missing_entry",
]

MISSING_ENTRY_ENV = "LIANGFA_RULES_MISSING_ENTRY"


class SilentUnitRule(Sourced):
    """A unit that stopped entering, judged against its own rhythm."""

    min_working_days: int = Field(ge=1, le=2000)
    history_multiplier: float = Field(gt=0, le=100)
    min_history: int = Field(ge=2, le=10_000)
    history_size: int = Field(ge=2, le=10_000)
    operator_set: bool = True


class NumberGapRule(Sourced):
    """Decision numbers skipped within a unit's yearly series."""

    grace_working_days: int = Field(ge=0, le=2000)
    max_gap: int = Field(ge=1, le=10_000)
    operator_set: bool = True


class UnenteredReferralRule(Sourced):
    """A referral known from police or court feedback that the agency never entered."""

    grace_working_days: int = Field(ge=0, le=2000)
    operator_set: bool = True


class MissingEntryParameters(RuleModel):
    """The missing-entry file."""

    version: Literal[1] = 1
    #: Wall-clock seconds a finding must persist before it is raised (operator setting):
    #: a backlog is read partition by partition, so a unit's later decisions can be read
    #: before its earlier ones and a number looks missing for the moment in between.
    settle_seconds: float = Field(30.0, ge=0)
    silent_unit: SilentUnitRule
    number_gaps: NumberGapRule
    unentered_referrals: UnenteredReferralRule


_FILE = RuleFile("missing_entry.yaml", MISSING_ENTRY_ENV, MissingEntryParameters)


def load_missing_entry(path: str | os.PathLike[str] | None = None) -> MissingEntryParameters:
    """The missing-entry parameters in force (argument, env var, rules dir, shipped)."""
    return _FILE.load(path)
