"""Mapping: a source row (column → text) becomes a validated case event.

A mapping is data (a preset YAML or an inline ``mapping:`` block), compiled once into
plain Python callables so that the per-row work is dictionary look-ups and conversions.
Money is converted with :class:`~decimal.Decimal` only: a 双公示 amount in 万元 becomes
integer fen exactly or the row is rejected, never rounded through a float.
"""

from connectors.mapping.mapper import (
    AnyMapper,
    CaseKey,
    ColumnMatcher,
    Conversion,
    DispatchMapper,
    DispatchSpec,
    FieldRule,
    MappedEvent,
    Mapper,
    MappingSpec,
    OrderRule,
    Plausibility,
    build_mapper,
    convert_value,
    merge_mappings,
    normalize_header,
)
from connectors.mapping.mapper import describe_validation_error as describe_validation_error

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
