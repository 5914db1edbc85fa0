"""Landing sensors: one run per tick carrying the new file versions, a durable small cursor, bounded ticks."""

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.defs.raw.sensors import build_landing_sensor, file_run_key, file_tag, new_files
from dagster_project.defs.resources import Foundation
from dagster_project.landing.store import LandedFile
from dagster_project.landing.zone import open_landing
from tests.conftest import land, orders_csv
from tests.landing.clock import await_file_clock_past


def landing_root(settings) -> Path:
    return Path(settings.landing_uri.removeprefix("file://"))


def _tick(sensor, settings, cursor=None):
    context = dg.build_sensor_context(
        cursor=cursor,
        instance=dg.DagsterInstance.ephemeral(),
        resources={"foundation": Foundation.from_settings(settings)},
    )
    result = sensor(context)
    return result, (result.cursor if result.cursor is not None else cursor)


def test_new_files_become_one_run_and_a_retick_resubmits_nothing(settings, registry):
    sensor = build_landing_sensor(registry["orders"], 15)
    land(settings, "orders/a.csv", orders_csv(1, 1))
    land(settings, "orders/b.csv", orders_csv(2, 1))
    land(settings, "customers/c.csv", "x")
    result, cursor = _tick(sensor, settings)
    [request] = result.run_requests
    assert sorted(request.run_config["ops"]["raw__orders"]["config"]["files"]) == [
        "orders/a.csv",
        "orders/b.csv",
    ]
    assert request.tags["foundation/dataset"] == "orders"

    again, cursor_after = _tick(sensor, settings, cursor)
    assert again.run_requests == [] and cursor_after == cursor
    assert "no new files" in again.skip_reason.skip_message


def test_modified_file_is_seen_again_with_a_new_run_key(settings, registry):
    sensor = build_landing_sensor(registry["orders"], 15)
    path = land(settings, "orders/a.csv", orders_csv(1, 1))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns - 5 * 10**9))
    first, cursor = _tick(sensor, settings)
    stat = path.stat()
    version = f"{stat.st_size}-{stat.st_mtime_ns}-{stat.st_ctime_ns}-{stat.st_ino}"
    assert first.run_requests[0].run_key == f"orders:orders/a.csv:{version}"  # a run of one file: its own key
    path.write_text(orders_csv(1, 2))  # rewritten now: a later modification time
    second, _ = _tick(sensor, settings, cursor)
    assert len(second.run_requests) == 1
    assert second.run_requests[0].run_key != first.run_requests[0].run_key


def test_files_still_being_written_wait_for_a_later_tick(settings, registry):
    young = settings.__class__(**{**settings.__dict__, "sensor_min_file_age_seconds": 3600})
    sensor = build_landing_sensor(registry["orders"], 15)
    land(settings, "orders/a.csv", orders_csv(1, 1))
    result, cursor = _tick(sensor, young)
    assert result.run_requests == [] and cursor is None


def test_ticks_are_bounded_and_the_rest_come_next_tick(settings, registry):
    bounded = settings.__class__(**{**settings.__dict__, "sensor_max_files_per_run": 10})
    sensor = build_landing_sensor(registry["orders"], 15)
    for i in range(25):
        path = land(settings, f"orders/f{i:02d}.csv", orders_csv(i, 1))
        os.utime(path, ns=(10**18 + i, 10**18 + i))
    seen, cursor, sizes = [], None, []
    for _ in range(4):
        result, cursor = _tick(sensor, bounded, cursor)
        assert len(result.run_requests or []) <= 1
        carried = [
            f
            for r in result.run_requests or []
            for f in r.run_config["ops"]["raw__orders"]["config"]["files"]
        ]
        sizes.append(len(carried))
        seen += carried
    assert sizes == [10, 10, 5, 0]
    assert seen == [f"orders/f{i:02d}.csv" for i in range(25)]


def _handed_out(files, cursor=None, limit=20, lookback=60, now_ns=10**15):
    handed, ticks, sizes = [], 0, []
    while True:
        batch, cursor = new_files(
            files, cursor, now_ns=now_ns, min_age_seconds=0, limit=limit, lookback_seconds=lookback
        )
        if not batch:
            return handed, cursor, ticks, sizes
        handed += [f.key for f in batch]
        ticks += 1
        sizes.append(len(cursor))


def test_thousands_of_files_each_handed_out_once_with_a_bounded_cursor():
    # 5,000 files landing one per second; the cursor holds only the last minute's.
    files = [
        LandedFile(mtime_ns=(1_000 + i) * 10**9, key=f"orders/{i:05d}.csv", uri=f"file:///l/{i}", size=10)
        for i in range(5000)
    ]
    handed, cursor, ticks, sizes = _handed_out(files)
    assert ticks == 250
    assert handed == [f.key for f in files]
    assert max(sizes) < 4_000
    assert json.loads(cursor)["watermark_ns"] == files[-1].mtime_ns


def test_a_late_file_with_an_older_time_is_still_picked_up_within_the_lookback():
    first = [LandedFile(mtime_ns=100 * 10**9, key="orders/b.csv", uri="file:///b", size=1)]
    _, cursor, _, _ = _handed_out(first)
    # A multipart upload that started earlier finishes now: its time is below the watermark.
    late = LandedFile(mtime_ns=90 * 10**9, key="orders/a.csv", uri="file:///a", size=1)
    ancient = LandedFile(mtime_ns=10 * 10**9, key="orders/z.csv", uri="file:///z", size=1)
    handed, _, _, _ = _handed_out([*first, late, ancient], cursor=cursor, lookback=60)
    assert handed == ["orders/a.csv"]


def test_files_the_table_already_holds_need_no_run_even_with_a_fresh_cursor(settings, registry):
    from dagster_project.ingest.run import ingest_dataset

    land(settings, "orders/a.csv", orders_csv(1, 2))
    ingest_dataset(settings, registry["orders"], run_id="demo")  # e.g. `make demo` before `make dev`
    land(settings, "orders/b.csv", orders_csv(3, 2))
    result, _ = _tick(build_landing_sensor(registry["orders"], 15), settings)
    assert [r.run_config["ops"]["raw__orders"]["config"]["files"] for r in result.run_requests] == [
        ["orders/b.csv"]
    ]


def test_quarantined_versions_need_no_run_either(settings, registry):
    from dagster_project.ingest.run import ingest_dataset

    land(settings, "orders/broken.csv", "")
    assert len(ingest_dataset(settings, registry["orders"], run_id="demo").quarantined) == 1
    result, _ = _tick(build_landing_sensor(registry["orders"], 15), settings)
    assert result.run_requests == []


def test_an_in_place_edit_that_keeps_size_and_mtime_is_requested_again(settings, registry):
    sensor = build_landing_sensor(registry["orders"], 15)
    path = land(settings, "orders/a.csv", orders_csv(1, 2))
    day_ago = path.stat().st_mtime_ns - 86_400 * 10**9  # far below the lookback window
    os.utime(path, ns=(day_ago, day_ago))
    first, cursor = _tick(sensor, settings)
    await_file_clock_past(path.stat().st_ctime_ns, path.parent)

    path.write_text(orders_csv(1, 2).replace("placed", "PLACED"))  # `cp -p`: same size, old mtime
    os.utime(path, ns=(day_ago, day_ago))
    second, _ = _tick(sensor, settings, cursor)

    assert len(first.run_requests) == 1 and len(second.run_requests) == 1
    assert second.run_requests[0].run_key != first.run_requests[0].run_key


@pytest.mark.timeout(30)
def test_links_and_fifos_are_skipped_and_counted_without_failing_the_tick(settings, registry, tmp_path):
    sensor = build_landing_sensor(registry["orders"], 15)
    land(settings, "orders/good.csv", orders_csv(1, 1))
    secret = tmp_path / "secret.csv"
    secret.write_text(orders_csv(9001, 1))
    (landing_root(settings) / "orders" / "leak.csv").symlink_to(secret)
    os.mkfifo(landing_root(settings) / "orders" / "pipe.csv")

    first, cursor = _tick(sensor, settings)
    second, _ = _tick(sensor, settings, cursor)

    assert [r.run_config["ops"]["raw__orders"]["config"]["files"] for r in first.run_requests] == [
        ["orders/good.csv"]
    ]
    assert "2 entries skipped (FIFO, symbolic link)" in second.skip_reason.skip_message


def test_odd_names_get_valid_unique_run_keys_and_tags_and_their_exact_key_in_the_config(settings, registry):
    sensor = build_landing_sensor(registry["orders"], 15)
    names = ["new\nline.csv", os.fsdecode(b"caf\xe9.csv"), "caf\\xe9.csv", "q" * 251 + ".csv", "#%?*[1].csv"]
    for index, name in enumerate(names):
        land(settings, f"orders/{name}", orders_csv(index + 1, 1))

    result, _ = _tick(sensor, settings)

    [request] = result.run_requests
    assert sorted(request.run_config["ops"]["raw__orders"]["config"]["files"]) == sorted(
        f"orders/{n}" for n in names
    )
    landed = [f for f in open_landing(settings).list("orders/")]
    singles = [file_run_key(registry["orders"], f) for f in landed]  # a run of one file is keyed so
    assert len(set(singles)) == len(names)  # `caf\xe9` the byte and the text differ
    for key in [request.run_key, *singles]:
        assert key.isprintable() and key.encode("utf-8")
    for tag in [request.tags["foundation/file"], *(file_tag([f]) for f in landed)]:
        assert tag.isprintable() and tag.encode("utf-8") and len(tag) <= 200
    dg.serialize_value(request)  # what the daemon stores


def test_the_documents_sensor_skips_and_counts_links_too(settings, tmp_path):
    from dagster_project.defs.documents.sensors import build_documents_sensor
    from dagster_project.documents.config import load_documents_config

    config = load_documents_config(settings.documents_file)
    secret = tmp_path / "secret.md"
    secret.write_text("# not for the index\n")
    land(settings, f"{config.prefix}real.md", "# Real\n\nA real document.\n")
    (landing_root(settings) / config.prefix / "leak.md").symlink_to(secret)
    sensor = build_documents_sensor(config, 15)

    first, cursor = _tick(sensor, settings)
    second, _ = _tick(sensor, settings, cursor)

    assert [r.run_config["ops"]["raw__documents"]["config"]["files"] for r in first.run_requests] == [
        [f"{config.prefix}real.md"]
    ]
    assert "1 entry skipped (symbolic link)" in second.skip_reason.skip_message
