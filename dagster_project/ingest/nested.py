"""JSON lines with `nested: flatten`: the keys of nested objects found, level by level, as columns."""

from __future__ import annotations

from pathlib import Path

import duckdb

from dagster_project.ingest.casts import literal


def json_pointer(keys: tuple[str, ...]) -> str:
    """A JSON Pointer (RFC 6901) to a nested value: `~` and `/` in keys escaped, so any key is exact."""
    return "".join("/" + key.replace("~", "~0").replace("/", "~1") for key in keys)


def nested_value(column: str, keys: tuple[str, ...]) -> str:
    """SQL for the JSON value below `keys` in JSON column `column`; a JSON `null` there is SQL NULL.

    `json_extract` gives a JSON null back as the JSON value `null`, which reads as the text "null"
    (and fails a numeric cast): a null at any depth must be missing, as it is at the top level.
    """
    pointer = literal(json_pointer(keys))
    value = f"json_extract({column}, {pointer})"
    return f"CASE WHEN json_type({column}, {pointer}) = 'NULL' THEN NULL ELSE {value} END"


def flattened(con: duckdb.DuckDBPyConnection, path: Path, found: list, max_record_bytes: int) -> list:
    """`nested: flatten`: each nested object's keys as columns of their own, `address.city` for
    `{"address": {"city": ...}}` (normalised to `address_city`), level by level, one pass per level.

    A value that is an object in every line where it is set becomes its keys; one that is also a
    scalar somewhere keeps its own column too; lists stay one column (JSON text). Below 32 levels
    objects are kept whole.
    """
    objects = f"read_ndjson_objects({literal(str(path))}, maximum_object_size = {int(max_record_bytes)})"
    top = [((key,), source_type, sniffed) for key, source_type, sniffed in found]
    children: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    scalar: set[tuple[str, ...]] = {(key,) for key, _, _ in found}
    frontier = [p for p, _, _ in top]
    for _ in range(32):
        if not frontier:
            break
        pointers = ", ".join(literal(json_pointer(p)) for p in frontier)
        values = (
            f"(SELECT n, i, json_type(json, ptr) AS t, json_keys(json, ptr) AS ks FROM "
            f"(SELECT row_number() OVER () AS n, json FROM {objects}), "
            f"(SELECT unnest(range({len(frontier)})) AS i, unnest([{pointers}]) AS ptr))"
        )
        kinds = con.execute(
            f"SELECT i, bool_or(t = 'OBJECT'), bool_or(t NOT IN ('OBJECT', 'NULL')) FROM {values} GROUP BY i"
        ).fetchall()
        # Keys by first appearance (line, then place in the object): new columns in file order.
        keys = con.execute(
            "SELECT i, list(k ORDER BY line, place) FROM (SELECT i, k, min(n) AS line, min(j) AS place "
            f"FROM (SELECT i, n, unnest(ks) AS k, generate_subscripts(ks, 1) AS j FROM {values} "
            "WHERE t = 'OBJECT') GROUP BY i, k) GROUP BY i"
        ).fetchall()
        by_index = dict(keys)
        shape = [(i, is_object, is_scalar, by_index.get(i)) for i, is_object, is_scalar in kinds]
        following = []
        for index, is_object, is_scalar, keys in shape:
            at = frontier[index]
            if not is_object:
                continue
            if not is_scalar:
                scalar.discard(at)
            children[at] = [(*at, key) for key in keys or []]
            following += children[at]
            scalar.update(children[at])
        frontier = following

    def columns(at: tuple[str, ...], source_type: str | None, sniffed: str | None) -> list:
        own = [(".".join(at), source_type, sniffed, at)] if at in scalar or at not in children else []
        return own + [c for child in children.get(at, []) for c in columns(child, "JSON", None)]

    return [c for at, source_type, sniffed in top for c in columns(at, source_type, sniffed)]
