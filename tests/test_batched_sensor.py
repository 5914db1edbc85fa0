"""Batched landing runs: one run per dataset per tick, capped by files and bytes, exactly once per version."""

import os

import dagster as dg

from dagster_project.defs.raw.assets import build_raw_asset
from dagster_project.defs.raw.sensors import build_landing_sensor, new_files, run_key
from dagster_project.defs.resources import Foundation
from dagster_project.landing.store import LandedFile
from tests.conftest import land, orders_csv


def _settings(settings, **changes):
    return settings.__class__(**{**settings.__dict__, **changes})


def _tick(sensor, settings, cursor=None):
    context = dg.build_sensor_context(
        cursor=cursor,
        instance=dg.DagsterInstance.ephemeral(),
        resources={"foundation": Foundation.from_settings(settings)},
    )
    result = sensor(context)
    return result, (result.cursor if result.cursor is not None else cursor)


def _requests(sensor, settings, cursor=None):
    result, cursor = _tick(sensor, settings, cursor)
    return result.run_requests or [], cursor


def _files(request) -> list[str]:
    return request.run_config["ops"]["raw__orders"]["config"]["files"]


def _landed(count: int, size: int = 100) -> list[LandedFile]:
    return [
        LandedFile(mtime_ns=(1_000 + i) * 10**9, key=f"orders/{i:03d}.csv", uri=f"file:///l/{i}", size=size)
        for i in range(count)
    ]


def _batch(files, cursor=None, *, limit=500, max_bytes=None):
    return new_files(
        files, cursor, now_ns=10**15, min_age_seconds=0, limit=limit, lookback_seconds=60, max_bytes=max_bytes
    )


def test_a_batch_stops_at_the_file_cap_or_the_byte_cap_whichever_comes_first():
    assert len(_batch(_landed(30), limit=20)[0]) == 20
    assert len(_batch(_landed(30), limit=20, max_bytes=250)[0]) == 2  # 3 files would be 300 bytes
    assert len(_batch(_landed(30), limit=20, max_bytes=300)[0]) == 3  # the cap itself is allowed


def test_a_file_larger_than_the_byte_cap_is_a_batch_of_its_own():
    big = _landed(3)
    big[0] = LandedFile(mtime_ns=big[0].mtime_ns, key=big[0].key, uri=big[0].uri, size=10_000)
    first, cursor = _batch(big, max_bytes=250)
    second, _ = _batch(big, cursor, max_bytes=250)
    assert [f.key for f in first] == ["orders/000.csv"]
    assert [f.key for f in second] == ["orders/001.csv", "orders/002.csv"]


def test_one_run_per_tick_carries_the_batch_and_the_rest_come_next_tick(settings, registry):
    capped = _settings(settings, sensor_max_files_per_run=3, sensor_max_bytes_per_run=2 << 30)
    sensor = build_landing_sensor(registry["orders"], 15)
    for i in range(7):
        path = land(settings, f"orders/f{i}.csv", orders_csv(1 + i * 10, 2))
        os.utime(path, ns=(10**18 + i, 10**18 + i))
    runs, cursor = [], None
    for _ in range(4):
        result, cursor = _tick(sensor, capped, cursor)
        runs.append([_files(r) for r in result.run_requests or []])
    assert runs == [
        [["orders/f0.csv", "orders/f1.csv", "orders/f2.csv"]],
        [["orders/f3.csv", "orders/f4.csv", "orders/f5.csv"]],
        [["orders/f6.csv"]],
        [],
    ]


def test_the_byte_cap_splits_runs_in_the_sensor(settings, registry):
    sizes = []
    for i in range(3):
        path = land(settings, f"orders/f{i}.csv", orders_csv(1 + i * 10, 2))
        os.utime(path, ns=(10**18 + i, 10**18 + i))
        sizes.append(path.stat().st_size)
    capped = _settings(settings, sensor_max_bytes_per_run=sizes[0] + sizes[1])
    sensor = build_landing_sensor(registry["orders"], 15)
    first, cursor = _tick(sensor, capped)
    second, _ = _tick(sensor, capped, cursor)
    assert [_files(r) for r in first.run_requests] == [["orders/f0.csv", "orders/f1.csv"]]
    assert [_files(r) for r in second.run_requests] == [["orders/f2.csv"]]


def test_the_run_key_is_stable_across_ticks_and_new_for_a_modified_file(settings, registry):
    sensor = build_landing_sensor(registry["orders"], 15)
    land(settings, "orders/a.csv", orders_csv(1, 2))
    b = land(settings, "orders/b.csv", orders_csv(3, 2))
    [first], cursor = _requests(sensor, settings)
    [again], _ = _requests(sensor, settings)  # cursor lost: the same versions, the same key (Dagster dedupes)
    assert first.run_key == again.run_key and first.run_key.startswith("orders:2 files:")
    assert first.tags["foundation/files"] == "2" and first.tags["foundation/file"].endswith("(+1 more)")

    b.write_text(orders_csv(3, 3))  # modified: a new version of b
    [modified], _ = _requests(sensor, settings)
    assert modified.run_key != first.run_key
    [only_b], _ = _requests(sensor, settings, cursor)  # with the cursor: only the new version is due
    assert _files(only_b) == ["orders/b.csv"]


def test_the_run_key_does_not_depend_on_the_order_of_the_files(registry):
    files = _landed(3)
    assert run_key(registry["orders"], files) == run_key(registry["orders"], files[::-1])
    assert run_key(registry["orders"], files) != run_key(registry["orders"], files[:2])


def test_a_bad_file_in_a_batch_is_quarantined_and_the_others_land(settings, registry):
    land(settings, "orders/a.csv", orders_csv(1, 4))
    land(settings, "orders/broken.csv", "order_id,amount\n\x00\x01\x02 not a csv\n")
    land(settings, "orders/c.csv", orders_csv(5, 3))
    [request], _ = _requests(build_landing_sensor(registry["orders"], 15), settings)
    assert sorted(_files(request)) == ["orders/a.csv", "orders/broken.csv", "orders/c.csv"]

    result = dg.materialize(
        [build_raw_asset(registry["orders"])],
        resources={"foundation": Foundation.from_settings(settings)},
        run_config=request.run_config,
    )

    assert result.success
    md = result.asset_materializations_for_node("raw__orders")[0].metadata
    assert md["rows_ingested"].value == 7 and md["files_ingested"].value == 2
    assert md["files_quarantined"].value == 1 and "broken.csv" in md["quarantined"].value
    after, _ = _tick(build_landing_sensor(registry["orders"], 15), settings)
    assert after.run_requests == []  # every version handled: landed or quarantined


def test_files_read_ahead_in_one_batch_see_what_earlier_files_of_it_did(settings, registry):
    from dagster_project.ingest.run import ingest_dataset

    drifted = orders_csv(1, 2, extra_header="note", extra_value="gift")
    land(settings, "orders/a.csv", drifted)
    land(settings, "orders/b.csv", drifted)  # the same bytes under another key
    land(settings, "orders/c.csv", orders_csv(5, 2, extra_header="note", extra_value="7"))
    land(settings, "orders/d.csv", orders_csv(9, 2))
    keys = ["orders/a.csv", "orders/b.csv", "orders/c.csv", "orders/d.csv"]

    report = ingest_dataset(settings, registry["orders"], run_id="batch", keys=keys)

    assert [f["file"] for f in report.ingested] == ["orders/a.csv", "orders/c.csv", "orders/d.csv"]
    assert [d.message for d in report.duplicates] and "orders/a.csv" in report.duplicates[0].message
    assert report.new_columns == {"note": "string"}  # one new column for the batch
