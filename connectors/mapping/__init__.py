"""Mapping: a source row (column → text) becomes a validated case event.

A mapping is data (a preset YAML or an inline ``mapping:`` block), compiled once into
plain Python callables so that the per-row work is dictionary look-ups and conversions.
Money is converted with :class:`~decimal.Decimal` only: a 双公示 amount in 万元 becomes
integer fen exactly or the row is rejected, never rounded through a float.

The configuration models are in :mod:`~connectors.mapping.spec`, cell conversions in
:mod:`~connectors.mapping.conversions`, header matching in
:mod:`~connectors.mapping.columns`, the compiled field rules in
:mod:`~connectors.mapping.rules` and the mapper that puts them together in
:mod:`~connectors.mapping.mapper`; the names the rest of the code base uses are
re-exported here.
"""

from connectors.mapping.columns import ColumnMatcher, normalize_header
from connectors.mapping.conversions import Conversion, convert_value
from connectors.mapping.mapper import (
    AnyMapper,
    DispatchMapper,
    MappedEvent,
    Mapper,
    build_mapper,
)
from connectors.mapping.mapper import describe_validation_error as describe_validation_error
from connectors.mapping.spec import (
    CaseKey,
    DispatchSpec,
    FieldRule,
    MappingSpec,
    OrderRule,
    Plausibility,
    merge_mappings,
)

__all__ = [
    "AnyMapper",
    "CaseKey",
    "ColumnMatcher",
    "Conversion",
    "DispatchMapper",
    "DispatchSpec",
    "FieldRule",
    "MappedEvent",
    "Mapper",
    "MappingSpec",
    "OrderRule",
    "Plausibility",
    "build_mapper",
    "convert_value",
    "merge_mappings",
    "normalize_header",
]
