"""Tests for the sample data generator: determinism, schemas, planted dirt, PDF structure and benchmarks."""

from __future__ import annotations

import csv
import difflib
import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from dagster_project.demo.sample_data import GeneratedFile, generate, write_orders_csv
from dagster_project.demo.sample_data.__main__ import main

SOURCES = Path(__file__).resolve().parents[3] / "dagster_project" / "sources.yml"
ORDER_DAYS = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]
CLEAN_ORDERS = [f"orders/orders_{d}.csv" for d in ORDER_DAYS]
DRIFT = "orders/orders_2026-11-05_schema_drift.csv"
MALFORMED = "orders/orders_2026-11-05_malformed.csv"
BAD = "orders/orders_2026-11-06_bad_batch.csv"
PRIMITIVES = {
    "long": "BIGINT",
    "int": "INTEGER",
    "string": "VARCHAR",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "boolean": "BOOLEAN",
}


def duckdb_type(iceberg: str) -> str:
    """Map an Iceberg type name from sources.yml to the DuckDB type it loads as."""
    m = re.fullmatch(r"decimal\((\d+),\s*(\d+)\)", iceberg)
    return f"DECIMAL({m[1]},{m[2]})" if m else PRIMITIVES[iceberg]


@pytest.fixture(scope="module")
def sources() -> dict:
    return yaml.safe_load(SOURCES.read_text())["datasets"]


def columns(sources: dict, dataset: str) -> list[str]:
    return list(sources[dataset]["columns"])


def types(sources: dict, dataset: str) -> dict[str, str]:
    return {name: duckdb_type(c["type"]) for name, c in sources[dataset]["columns"].items()}


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[GeneratedFile]]:
    root = tmp_path_factory.mktemp("landing")
    return root, generate(root)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    # A connection per test: a failed read aborts the transaction of the connection it ran on.
    with duckdb.connect() as connection:
        yield connection


def read_orders(
    con: duckdb.DuckDBPyConnection,
    paths: Path | list[Path],
    sources: dict,
    extra: dict[str, str] | None = None,
    view: str | None = None,
) -> duckdb.DuckDBPyRelation:
    """Read orders CSVs with the declared types, optionally registered as a view for SQL."""
    files = [str(p) for p in paths] if isinstance(paths, list) else str(paths)
    col_types = types(sources, "orders") | (extra or {})
    rel = con.sql(
        f"select * from read_csv({files!r}, header=true, delim=',', quote='\"', types={col_types!r})"
    )
    if view:
        rel.create_view(view)
    return rel


def csv_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as f:
        return next(csv.reader(f))


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_gives_identical_files_and_other_seed_differs(landing, tmp_path: Path) -> None:
    root, _ = landing
    again = generate(tmp_path / "again")
    first, second = tree(root), tree(tmp_path / "again")
    assert list(first) == list(second)
    assert first == second
    assert [(f.path.relative_to(tmp_path / "again"), f.rows, f.note) for f in again] == [
        (f.path.relative_to(root), f.rows, f.note) for f in landing[1]
    ]

    assert all(f.path.is_absolute() for f in generate(tmp_path / "other", seed=7))
    other = tree(tmp_path / "other")
    assert list(other) == list(first), "file names must not depend on the seed"
    for name in [
        "customers/customers_2026-11-01.csv",
        CLEAN_ORDERS[0],
        "products/products_2026-11-01.parquet",
    ]:
        assert other[name] != first[name], name


def test_overwrites_own_files_and_keeps_foreign_ones(tmp_path: Path) -> None:
    foreign = tmp_path / "orders" / "someone_elses.csv"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("keep me\n")
    target = tmp_path / "orders" / "orders_2026-11-01.csv"
    target.write_text("stale\n")
    generate(tmp_path, scale=0.1)
    assert foreign.read_text() == "keep me\n"
    assert target.read_text().startswith("order_id,")
    assert not list(tmp_path.rglob("*.tmp")), "temp files must be renamed away"


# --- layout and schemas ------------------------------------------------------------------------


def test_expected_files_and_rows(landing) -> None:
    root, files = landing
    names = {f.path.relative_to(root).as_posix() for f in files}
    assert names == set(tree(root)), "every file written is reported, and only those"
    expected = {
        "customers/customers_2026-11-01.csv",
        "customers/customers_2026-11-02.csv",
        "products/products_2026-11-01.parquet",
        *CLEAN_ORDERS,
        DRIFT,
        MALFORMED,
        BAD,
        *(f"support_tickets/tickets_2026-11-0{d}.jsonl" for d in (1, 2, 3)),
    }
    assert expected <= names
    docs = [f for f in files if f.dataset == "documents"]
    suffixes = {f.path.suffix for f in docs}
    assert {".md", ".html", ".txt", ".pdf", ".json"} <= suffixes
    assert len([f for f in docs if f.note != "metadata_sidecar"]) >= 12
    assert {f.dataset for f in files} == {"customers", "products", "orders", "support_tickets", "documents"}
    for f in files:
        if f.path.suffix == ".csv":
            assert f.rows == len(f.path.read_text(encoding="utf-8").splitlines()) - 1, f.path.name
        elif f.path.suffix == ".jsonl":
            assert f.rows == len(f.path.read_text(encoding="utf-8").splitlines())
        elif f.dataset == "documents":
            assert f.rows == 1
    by_name = {f.path.name: f for f in files}
    assert by_name["orders_2026-11-05_malformed.csv"].note == "malformed"
    assert by_name["orders_2026-11-06_bad_batch.csv"].note == "bad_batch"
    assert by_name["orders_2026-11-05_schema_drift.csv"].note == "schema_drift"
    assert "duplicates" in by_name["orders_2026-11-01.csv"].note


def test_headers_and_keys_match_sources(landing, sources) -> None:
    root, _ = landing
    for path in (root / "customers").glob("*.csv"):
        assert csv_header(path) == columns(sources, "customers")
    for name in [*CLEAN_ORDERS, BAD, MALFORMED]:
        assert csv_header(root / name) == columns(sources, "orders"), name
    drift = csv_header(root / DRIFT)
    assert drift[:-1] == columns(sources, "orders") and drift[-1] == "discount_code"
    for path in (root / "support_tickets").glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            assert list(json.loads(line)) == columns(sources, "support_tickets")

    schema = pq.read_schema(root / "products" / "products_2026-11-01.parquet")
    assert schema.names == columns(sources, "products")
    assert [str(t) for t in schema.types] == [
        "int64", "string", "string", "string", "decimal128(10, 2)", "bool", "timestamp[us]",
    ]  # fmt: skip


def test_customers_and_tickets_load_with_declared_types(landing, sources, con) -> None:
    root, _ = landing
    customer_types = types(sources, "customers")
    con.sql(
        f"select * from read_csv('{root}/customers/*.csv', header=true, types={customer_types!r})"
    ).create_view("customers")
    n, distinct, null_phones = con.sql(
        "select count(*), count(distinct customer_id), count(*) - count(phone) from customers"
    ).fetchone()
    assert 190 <= distinct <= 210 and n > distinct + 15, "re-exported customers repeat their key"
    assert null_phones >= 2
    con.sql(
        f"select * from read_json('{root}/support_tickets/*.jsonl', format='newline_delimited', "
        f"columns={types(sources, 'support_tickets')!r})"
    ).create_view("tickets")
    n, distinct, null_priority = con.sql(
        "select count(*), count(distinct ticket_id), count(*) - count(priority) from tickets"
    ).fetchone()
    assert 290 <= distinct <= 310 and n == distinct + 1 and null_priority >= 2


# --- orders: the malformed file fails, every other file loads ------------------------------------


def test_malformed_orders_fail_strict_read(landing, sources) -> None:
    path = landing[0] / MALFORMED
    strict = f"read_csv('{path}', header=true, delim=',', quote='\"', escape='\"', strict_mode=true"
    for query in [f"select * from {strict})", f"select * from {strict}, types={types(sources, 'orders')!r})"]:
        # A fresh connection each time, so the second failure cannot be an aborted transaction.
        with duckdb.connect() as fresh, pytest.raises(duckdb.Error) as failure:
            fresh.sql(query).fetchall()
        assert not isinstance(failure.value, duckdb.TransactionException)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert {line.count(",") for line in lines} - {7}, "ragged rows are present"
    assert sum(line.count('"') for line in lines) == 1, "one quote that never closes"


def test_other_orders_files_load_with_declared_types(landing, sources, con) -> None:
    root, _ = landing
    for name in [*CLEAN_ORDERS, BAD]:
        rel = read_orders(con, root / name, sources)
        assert rel.columns == columns(sources, "orders")
        assert len(rel.fetchall()) > 0
    read_orders(con, root / DRIFT, sources, {"discount_code": "VARCHAR"}, view="drift")
    total, nulls = con.sql("select count(*), count(*) - count(discount_code) from drift").fetchone()
    assert 0 < nulls < total


def test_bad_batch_is_dirty_and_clean_files_are_not(landing, sources, con) -> None:
    root, _ = landing
    con.sql(f"select distinct customer_id from read_csv('{root}/customers/*.csv')").create_view("customers")
    read_orders(con, root / BAD, sources, view="bad")
    n, null_ids, negative, unknown = con.sql(
        "select count(*), count(*) - count(order_id), count(*) filter (amount < 0), "
        "count(*) filter (customer_id not in (select customer_id from customers)) from bad"
    ).fetchone()
    assert 0.08 * n <= null_ids <= 0.12 * n
    assert negative >= 3 and unknown >= 3

    read_orders(con, [root / name for name in CLEAN_ORDERS], sources, view="clean")
    stats = con.sql(
        "select count(*) - count(order_id), count(*) filter (amount < 0), "
        "count(*) filter (customer_id not in (select customer_id from customers)), "
        "count(*) - count(distinct (order_id, customer_id, product_id, quantity, amount, currency, "
        "  status, ordered_at)) as exact_dups, "
        "count(distinct order_id), count(*) - count(status), count(*) filter (quantity = 9999), "
        "count(*) filter (currency = 'XXX'), count(*) filter (currency = 'EUR') / count(*) from clean"
    ).fetchone()
    null_ids, negative, unknown, dups, distinct_ids, null_status, huge_qty, xxx, eur_share = stats
    assert (null_ids, negative, unknown) == (0, 0, 0)
    assert dups >= 4 and distinct_ids >= 1900
    assert null_status >= 4 and huge_qty >= 1 and xxx >= 1 and eur_share > 0.8


def test_clean_orders_are_consistent(landing, sources, con) -> None:
    root, _ = landing
    prices = {
        r["product_id"]: r["unit_price"]
        for r in pq.read_table(root / "products" / "products_2026-11-01.parquet").to_pylist()
    }
    for day, name in zip(ORDER_DAYS, CLEAN_ORDERS, strict=True):
        for _, _, product_id, qty, amount, currency, _, ordered_at in read_orders(
            con, root / name, sources
        ).fetchall():
            assert ordered_at.date().isoformat() == day
            assert amount.as_tuple().exponent == -2
            if currency in ("EUR", "XXX"):
                assert amount == qty * prices[product_id]
        assert re.search(r",\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n", (root / name).read_text())


# --- other datasets ------------------------------------------------------------------------------


def test_customer_exports_have_later_versions_and_fake_contacts(landing) -> None:
    root = landing[0] / "customers"
    first = list(csv.DictReader((root / "customers_2026-11-01.csv").open(encoding="utf-8")))
    second = list(csv.DictReader((root / "customers_2026-11-02.csv").open(encoding="utf-8")))
    old = {r["customer_id"]: r for r in first}
    repeated = [r for r in second if r["customer_id"] in old]
    assert 15 <= len({r["customer_id"] for r in repeated}) <= 25
    assert all(r != old[r["customer_id"]] for r in repeated), "a later version changes a field"
    lines = (root / "customers_2026-11-01.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) - len(set(lines)) >= 2, "exact duplicate lines"
    for r in first + second:
        assert re.fullmatch(r"[a-z0-9._]+@(example\.(com|org|net)|mail\.test|post\.example)", r["email"])
        assert r["phone"] == "" or re.fullmatch(r"\+44 20 7946 0\d{3}|\+1 202 555 01\d\d", r["phone"])
        assert r["segment"] in {"consumer", "smb", "enterprise"}


def test_tickets_contain_pii_in_free_text(landing) -> None:
    lines = [
        line
        for path in sorted((landing[0] / "support_tickets").glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    tickets = [json.loads(line) for line in lines]
    text = [t["subject"] + "\n" + t["body"] for t in tickets]
    assert sum(bool(re.search(r"[\w.]+@[\w.]+", s)) for s in text) > 50
    assert sum("+44 20 7946" in s or "+1 202 555" in s for s in text) > 20
    assert any("4111 1111 1111 1111" in s for s in text)
    assert all(re.fullmatch(r"2026-11-0[1-3] \d\d:\d\d:\d\d", t["created_at"]) for t in tickets)
    assert len(lines) - len(set(lines)) == 1


def test_documents_duplicates_pii_and_sidecars(landing) -> None:
    docs = landing[0] / "documents"
    assert (docs / "shipping_copy.md").read_bytes() == (docs / "shipping.md").read_bytes()
    old, new = (docs / "returns_2025.md").read_text(), (docs / "returns.md").read_text()
    assert old != new and difflib.SequenceMatcher(None, old, new).ratio() > 0.95
    assert "priya.nair@kestrelhome.example" in (docs / "contact.md").read_text()
    sidecars = sorted(docs.glob("*.metadata.json"))
    assert len(sidecars) == 2
    for sidecar in sidecars:
        assert (docs / sidecar.name.removesuffix(".metadata.json")).exists()
        attrs = json.loads(sidecar.read_text())["metadataAttributes"]
        assert set(attrs) == {"department", "audience"}
    page = (docs / "payments.html").read_text()
    for tag in ("<h1>", "<h2>", "<nav", "<footer"):
        assert tag in page


def pdf_text(data: bytes) -> str:
    """Collect the literal strings shown with Tj, a stand-in for a real extractor on our own PDFs."""
    shown = re.findall(rb"\((.*?)(?<!\\)\) Tj", data)
    return "\n".join(s.replace(rb"\(", b"(").replace(rb"\)", b")").decode("cp1252") for s in shown)


@pytest.mark.parametrize("name", ["privacy_policy.pdf", "care_guide.pdf"])
def test_pdf_is_structurally_valid(landing, name: str) -> None:
    data = (landing[0] / "documents" / name).read_bytes()
    assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
    startxref = int(re.search(rb"startxref\n(\d+)\n%%EOF", data)[1])
    assert data[startxref:].startswith(b"xref\n0 ")
    count = int(re.match(rb"xref\n0 (\d+)\n", data[startxref:])[1])
    table = data[startxref:].split(b"\n", 2)[2]
    entries = [table[i * 20 : (i + 1) * 20] for i in range(count)]
    assert entries[0] == b"0000000000 65535 f\r\n"
    for num, entry in enumerate(entries[1:], start=1):
        assert re.fullmatch(rb"\d{10} 00000 n\r\n", entry)
        offset = int(entry[:10])
        assert data[offset:].startswith(b"%d 0 obj" % num), f"object {num} not at {offset}"
    for length, body in re.findall(rb"<< /Length (\d+) >>\nstream\n(.*?)\nendstream", data, re.S):
        assert int(length) == len(body)
    assert b"/BaseFont /Helvetica" in data and b"/FlateDecode" not in data

    text = pdf_text(data)
    if importlib.util.find_spec("pypdf"):
        from pypdf import PdfReader

        text = "\n".join(p.extract_text() for p in PdfReader(landing[0] / "documents" / name).pages)
    assert "Kestrel Home" in text
    if name == "privacy_policy.pdf":
        assert b"/Count 2" in data
        assert "privacy@kestrelhome.example" in text


# --- scale, CLI and the benchmark writer ---------------------------------------------------------


def test_scale_two_doubles_orders(landing, tmp_path: Path) -> None:
    def order_rows(files: list[GeneratedFile]) -> int:
        return sum(f.rows for f in files if f.dataset == "orders")

    ratio = order_rows(generate(tmp_path, scale=2)) / order_rows(landing[1])
    assert 1.9 <= ratio <= 2.1


def test_cli_prints_each_file_and_a_total(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path), "--seed", "3", "--scale", "0.1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(tree(tmp_path)) + 1
    assert out[-1].startswith("total:")


def test_write_orders_csv(tmp_path: Path, sources, con) -> None:
    rows = 100_000
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    size = write_orders_csv(a, rows, seed=1, start_id=500)
    assert size == a.stat().st_size
    assert csv_header(a) == columns(sources, "orders")
    assert a.read_text().splitlines()[0] == ",".join(columns(sources, "orders")), "header is unquoted"
    assert 100 <= (size - len(a.read_text().split("\n", 1)[0]) - 1) / rows <= 130
    assert read_stats(con, a, sources) == (rows, 500, 500 + rows - 1, 0)
    assert write_orders_csv(b, rows, seed=1, start_id=500) == size
    assert a.read_bytes() == b.read_bytes()
    write_orders_csv(b, rows, seed=2, start_id=500)
    assert a.read_bytes() != b.read_bytes()


def read_stats(con: duckdb.DuckDBPyConnection, path: Path, sources: dict) -> tuple:
    """Row count, id range and non-positive amounts of an orders CSV read with the declared types."""
    rel = read_orders(con, path, sources)
    return rel.aggregate("count(*), min(order_id), max(order_id), count(*) filter (amount <= 0)").fetchone()
