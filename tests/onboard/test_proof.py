"""Three sources unlike the sample data, onboarded with `foundation sources add` and `foundation ingest`
and no edit: raw holds every landed row, staging is built, cards are written."""

from __future__ import annotations

import gzip
import json
import os
from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slow

METERS_HEADER = "Site,Meter,Read On,kWh,Technician\n"


def _land_meters(checkout) -> int:
    """Meter readings: NA for missing values, a key of two columns, a gzip file, a Latin-1 re-delivery."""
    january = [
        f"{site},m{meter},2026-01-31,{site * 100 + meter}.5,Ana\n" for site in (1, 2) for meter in (1, 2)
    ]
    january[1] = "1,m2,2026-01-31,NA,NA\n"
    checkout.landing("meters/2026-01.csv").write_text(METERS_HEADER + "".join(january))
    february = [
        f"{site},m{meter},2026-02-28,{site * 100 + meter + 7}.25,Ana\n" for site in (1, 2) for meter in (1,)
    ]
    checkout.landing("meters/2026-02.csv.gz").write_bytes(
        gzip.compress((METERS_HEADER + "".join(february)).encode())
    )
    # The billing system re-delivers site 1's readings, corrected, in Latin-1 with accented names.
    redelivery = "1,m1,2026-01-31,101.75,Zoé Brontë\n1,m2,2026-01-31,102.0,Zoé Brontë\n"
    checkout.landing("meters/2026-01-corrected.csv").write_bytes(
        (METERS_HEADER + redelivery).encode("latin-1")
    )
    # Delivered in that order (files written within one clock tick would be taken in name order).
    delivered = ("meters/2026-01.csv", "meters/2026-02.csv.gz", "meters/2026-01-corrected.csv")
    for minutes, key in enumerate(delivered):
        os.utime(checkout.landing(key), (1_780_000_000 + 60 * minutes,) * 2)
    return len(january) + len(february) + 2


def _land_shipments(checkout) -> int:
    """Shipments as JSON lines, each with a nested address."""
    lines = [
        {
            "shipment_id": f"S-{n:04d}",
            "weight_kg": n * 1.5,
            "shipped_at": f"2026-03-0{n}T08:30:00+01:00",
            "address": {"city": ["Lyon", "Gent", "Porto"][n % 3], "postcode": f"{n}000"},
        }
        for n in range(1, 6)
    ]
    checkout.landing("shipments/day1.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return len(lines)


def _land_trips(checkout) -> int:
    """Trips as Parquet with nanosecond timestamps, as pandas writes them."""
    started = pa.array([datetime(2026, 4, 1, 7, n, 30, 123456) for n in range(6)], pa.timestamp("ns"))
    table = pa.table(
        {
            "trip_id": pa.array(range(1, 7), pa.int64()),
            "started_at": started,
            "distance_km": pa.array([1.2, 3.4, 5.6, 7.8, 9.1, 2.3]),
            "vendor": pa.array(["a", "b", "a", "b", "a", "b"]),
        }
    )
    pq.write_table(table, checkout.landing("trips/2026-04-01.parquet"))
    return table.num_rows


def test_three_new_sources_onboarded_and_ingested_with_no_edit(checkout):
    landed = {
        "meters": _land_meters(checkout),
        "shipments": _land_shipments(checkout),
        "trips": _land_trips(checkout),
    }

    for name in landed:
        added = checkout.run(f".venv/bin/foundation sources add {name} --prefix {name}/")
        assert added.returncode == 0, added.stdout + added.stderr[-3000:]
        again = checkout.run(f".venv/bin/foundation sources add {name} --prefix {name}/")
        assert "no changes" in again.stdout, again.stdout
    ingested = checkout.run(".venv/bin/foundation ingest")
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr[-3000:]
    assert "0 quarantined" in ingested.stdout and "0 failed" in ingested.stdout, ingested.stdout

    status = json.loads(checkout.run(".venv/bin/foundation status --json").stdout)
    rows = {t["table"]: t["rows"] for t in status["tables"]}
    for name, count in landed.items():
        assert rows[f"raw.{name}"] == count, (name, rows)
    # Staging keeps one row per key: the corrected re-delivery replaces site 1's January readings.
    assert rows["staging.stg_meters"] == landed["meters"] - 2
    assert rows["staging.stg_shipments"] == landed["shipments"]
    assert rows["staging.stg_trips"] == landed["trips"]
    # Only the sources that landed: no sample dataset was written or ingested.
    assert not any(rows.get(f"raw.{name}") for name in ("orders", "customers", "products", "support_tickets"))

    cards = checkout.root / ".data" / "cards"
    for name in landed:
        assert (cards / f"staging.stg_{name}.md").is_file(), sorted(p.name for p in cards.glob("*"))

    readings = _query(checkout, "select site, meter, read_on, kwh from staging.stg_meters order by all")
    assert [(r["site"], r["meter"], str(r["read_on"]), r["kwh"]) for r in readings][:2] == [
        (1, "m1", "2026-01-31", 101.75),  # the corrected re-delivery
        (1, "m1", "2026-02-28", 108.25),  # February's reading is another row, not a new version
    ]
    names = _query(checkout, "select distinct technician from raw.meters where technician is not null")
    assert sorted(r["technician"] for r in names) == ["Ana", "Zoé Brontë"]  # Latin-1, transcoded
    trips = _query(checkout, "select min(started_at) as first from raw.trips")
    assert trips[0]["first"].startswith("2026-04-01") and "07:00:30.123456" in trips[0]["first"]


def _query(checkout, sql: str) -> list[dict]:
    done = checkout.run(f'.venv/bin/foundation query --as data_engineer --format json "{sql}"')
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    return json.loads(done.stdout)
