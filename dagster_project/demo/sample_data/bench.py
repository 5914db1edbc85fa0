"""Large orders CSV for benchmarks, generated inside DuckDB so millions of rows take seconds."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from .orders import ORDER_COLUMNS

# The rows span November 2026; ordered_at grows with order_id like a real export.
_SPAN_US = 30 * 86_400 * 1_000_000

# Why the rows are ~113 bytes wide: the benchmark models a marketplace-scale shop, so customer
# and product ids are 19-digit Snowflake-style ids (they do NOT join to the sample customers and
# products), ordered_at carries microseconds, and the exporter double-quotes every data field, as
# many exporters do (which also exercises the loader's quote handling). Each line is assembled as
# one string so the header stays unquoted; row -1 of the range is the header.
_SQL = """
COPY (
    WITH r AS (
        SELECT range AS i,
               hash(range, $seed, 1) AS h1,
               hash(range, $seed, 2) AS h2,
               hash(range, $seed, 3) AS h3
        FROM range(-1, $rows)
    ), v AS (
        SELECT i, h1, h2, h3,
               1 + (h3 % 100 >= 60)::INT + (h3 % 100 >= 80)::INT + (h3 % 100 >= 90)::INT
                 + 5 * (h3 % 100 >= 97)::INT AS quantity,
               CAST(CAST(100 + (h3 >> 8) % 149_900 AS DECIMAL(18, 0)) / 100 AS DECIMAL(10, 2)) AS price,
               -- HUGEINT: row number x span overflows BIGINT beyond ~3.5M rows.
               TIMESTAMP '2026-11-01 00:00:00' + to_microseconds(CAST(
                   CAST(i AS HUGEINT) * $span // greatest($rows, 1) + (h3 >> 20) % 1_000_000 AS BIGINT
               )) AS ordered_at
        FROM r
    )
    SELECT CASE WHEN i < 0 THEN $header ELSE '"' || concat_ws('","',
        CAST($start_id + i AS BIGINT),
        CAST(1_000_000_000_000_000_000 + h1 % 8_000_000_000_000_000_000 AS BIGINT),
        CAST(1_000_000_000_000_000_000 + h2 % 8_000_000_000_000_000_000 AS BIGINT),
        quantity,
        CAST(quantity * price AS DECIMAL(12, 2)),
        CASE WHEN (h1 >> 40) % 100 < 92 THEN 'EUR' WHEN (h1 >> 40) % 100 < 97 THEN 'GBP' ELSE 'USD' END,
        CASE WHEN (h2 >> 40) % 100 < 15 THEN 'placed'
             WHEN (h2 >> 40) % 100 < 40 THEN 'shipped'
             WHEN (h2 >> 40) % 100 < 85 THEN 'delivered'
             WHEN (h2 >> 40) % 100 < 93 THEN 'cancelled'
             ELSE 'returned' END,
        strftime(ordered_at, '%Y-%m-%d %H:%M:%S.%f')
    ) || '"' END AS line
    FROM v
) TO '{path}' (FORMAT CSV, HEADER false, DELIMITER '\t', QUOTE '', ESCAPE '')
"""


def write_orders_csv(path: Path, rows: int, *, seed: int = 42, start_id: int = 1) -> int:
    """Write a large orders CSV with the declared orders columns, built entirely in DuckDB SQL.

    Values come from DuckDB's hash() of the row number and seed, so the same DuckDB version,
    seed, rows and start_id give byte-identical files. Rows average ~113 bytes (5,000,000 rows
    is ~570 MB) and load with the declared types; every data field is double-quoted, the
    header line is not.

    Args:
        path: Destination CSV; replaced if it exists, parent directories are created.
        rows: Number of data rows.
        seed: Seed mixed into every hash.
        start_id: order_id of the first row; ids are consecutive, so files with disjoint
            start_id ranges never share an order_id.

    Returns:
        Bytes written.

    Raises:
        ValueError: If rows is negative.
    """
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    sql = _SQL.format(path=str(tmp).replace("'", "''"))
    con = duckdb.connect()
    try:
        # Row order must follow range() so the bytes are reproducible under parallel execution.
        con.execute("SET preserve_insertion_order = true")
        params = {
            "seed": seed,
            "rows": rows,
            "start_id": start_id,
            "span": _SPAN_US,
            "header": ",".join(ORDER_COLUMNS),
        }
        con.execute(sql, params)
    finally:
        con.close()
    os.replace(tmp, path)
    return path.stat().st_size


__all__ = ["ORDER_COLUMNS", "write_orders_csv"]
