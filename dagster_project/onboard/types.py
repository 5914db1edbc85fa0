"""Registry type names for the types a Parquet file declares (its own types are kept, not inferred)."""

from __future__ import annotations

import pyarrow as pa


def arrow_type_name(kind: pa.DataType) -> str:
    """The registry type of an Arrow type: int, long, float, double, decimal(P,S), boolean, date,
    timestamp (naive) or timestamptz; anything else (lists, structs, binary) is string."""
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_int8(kind) or pa.types.is_int16(kind) or pa.types.is_int32(kind):
        return "int"
    if pa.types.is_uint8(kind) or pa.types.is_uint16(kind):
        return "int"
    if pa.types.is_integer(kind):
        return "long"
    if pa.types.is_float16(kind) or pa.types.is_float32(kind):
        return "float"
    if pa.types.is_float64(kind):
        return "double"
    if pa.types.is_decimal(kind) and kind.precision <= 38:
        return f"decimal({kind.precision},{kind.scale})"
    if pa.types.is_date(kind):
        return "date"
    if pa.types.is_timestamp(kind):
        return "timestamptz" if kind.tz else "timestamp"
    return "string"
