"""The local landing zone is a boundary: links, FIFOs and devices are never read; edits are always seen."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from blake3 import blake3

from dagster_project.ingest.run import ingest_dataset
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.landing.local import LocalLanding
from dagster_project.landing.store import FileChanged, LandedFile, LandingEntryRefused, Skipped
from dagster_project.landing.zone import open_landing
from tests.conftest import land, orders_csv
from tests.landing.clock import await_file_clock_past

# What a system file looks like: a test plants its own, so nothing real is touched.
SECRET = "root:x:0:0:SECRET-ROOT-GECOS:/root:/bin/bash\n"


def _root(settings) -> Path:
    return Path(settings.landing_uri.removeprefix("file://"))


def _everything_written(settings, caplog) -> str:
    """Every quarantine copy and sidecar, plus every log line: where a leaked secret would show."""
    quarantine = Path(settings.quarantine_uri.removeprefix("file://"))
    texts = [caplog.text]
    if quarantine.exists():
        texts += [p.read_bytes().decode(errors="replace") for p in quarantine.rglob("*") if p.is_file()]
    return "\n".join(texts)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the landing zone holding a good orders file and a system-like file."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "orders.csv").write_text(orders_csv(9001, 2))
    (folder / "passwd").write_text(SECRET)
    return folder


@pytest.mark.timeout(60)
def test_links_to_files_outside_the_zone_are_never_read_ingested_or_quarantined(
    settings, registry, outside, caplog
):
    land(settings, "orders/good.csv", orders_csv(1, 2))
    root = _root(settings)
    (root / "orders" / "leak.csv").symlink_to(outside / "orders.csv")
    (root / "orders" / "passwd.csv").symlink_to(outside / "passwd")
    caplog.set_level(logging.INFO)

    report = ingest_dataset(settings, registry["orders"], run_id="r1")

    assert [f["file"] for f in report.ingested] == ["orders/good.csv"]
    assert report.quarantined == []
    ids = open_catalog(settings).load_table("raw.orders").scan().to_arrow()["order_id"].to_pylist()
    assert sorted(ids) == [1, 2]
    assert "SECRET-ROOT" not in _everything_written(settings, caplog)
    assert "orders/passwd.csv: skipped (symbolic link)" in caplog.text  # named, and what it is


@pytest.mark.timeout(60)
def test_a_link_is_refused_by_stat_and_fetch_and_listed_as_skipped(settings, outside, tmp_path):
    root = _root(settings)
    land(settings, "orders/good.csv", orders_csv(1, 1))
    (root / "orders" / "passwd.csv").symlink_to(outside / "passwd")
    landing = open_landing(settings)
    skipped: list[Skipped] = []

    assert [f.key for f in landing.list("orders/", skipped=skipped)] == ["orders/good.csv"]

    assert skipped == [Skipped("orders/passwd.csv", "symbolic link")]
    with pytest.raises(
        LandingEntryRefused, match=r"orders/passwd.csv: not read \(symbolic link\)"
    ) as refused:
        landing.stat("orders/passwd.csv")
    assert "SECRET" not in str(refused.value)
    forged = LandedFile(
        mtime_ns=0, key="orders/passwd.csv", uri=(root / "orders/passwd.csv").as_uri(), size=1
    )
    with pytest.raises(LandingEntryRefused), landing.fetch(forged, tmp_path / "scratch"):
        pytest.fail("a link was handed out")


def test_linked_folders_are_not_walked_and_a_linked_prefix_is_not_listed(settings, outside):
    root = _root(settings)
    land(settings, "orders/good.csv", orders_csv(1, 1))
    (root / "orders" / "more").symlink_to(outside, target_is_directory=True)
    (root / "customers").symlink_to(outside, target_is_directory=True)
    landing = open_landing(settings)
    skipped: list[Skipped] = []

    assert [f.key for f in landing.list("orders/", skipped=skipped)] == ["orders/good.csv"]
    assert list(landing.list("customers/", skipped=skipped)) == []

    assert skipped == [Skipped("orders/more", "symbolic link"), Skipped("customers", "symbolic link")]
    for key in ("orders/more/orders.csv", "customers/orders.csv"):  # a link anywhere on the path
        with pytest.raises(LandingEntryRefused, match="symbolic link at"):
            landing.stat(key)


@pytest.mark.timeout(30)
def test_fifos_and_device_links_never_block_a_run_a_listing_a_stat_or_a_fetch(settings, registry, tmp_path):
    root = _root(settings)
    land(settings, "orders/good.csv", orders_csv(1, 2))
    os.mkfifo(root / "orders" / "pipe.csv")  # no writer: opening it for reading would wait for ever
    (root / "orders" / "null.csv").symlink_to(os.devnull)

    report = ingest_dataset(settings, registry["orders"], run_id="r1")

    assert [f["file"] for f in report.ingested] == ["orders/good.csv"] and report.quarantined == []
    landing = open_landing(settings)
    skipped: list[Skipped] = []
    assert [f.key for f in landing.list("orders/", skipped=skipped)] == ["orders/good.csv"]
    assert sorted(skipped) == [
        Skipped("orders/null.csv", "symbolic link"),
        Skipped("orders/pipe.csv", "FIFO"),
    ]
    with pytest.raises(LandingEntryRefused, match=r"\(FIFO\)"):
        landing.stat("orders/pipe.csv")
    with pytest.raises(LandingEntryRefused, match=r"\(symbolic link\)"):
        landing.stat("orders/null.csv")
    for key in ("orders/pipe.csv", "orders/null.csv"):
        forged = LandedFile(mtime_ns=0, key=key, uri=(root / key).as_uri(), size=0)
        with pytest.raises(LandingEntryRefused), landing.fetch(forged, tmp_path / "scratch"):
            pytest.fail(f"{key} was handed out")


def test_keys_that_escape_the_root_are_refused_and_a_missing_file_is_not_found(settings, outside):
    land(settings, "orders/good.csv", orders_csv(1, 1))
    landing = open_landing(settings)
    escapes = [
        "orders/../../outside/passwd",
        "../outside/passwd",
        str(outside / "passwd"),  # absolute
        "orders/./good.csv",
        "orders//good.csv",
    ]
    for key in escapes:
        with pytest.raises(LandingEntryRefused) as refused:
            landing.stat(key)
        assert str(refused.value).startswith(f"{key}: not read (")
    with pytest.raises(FileNotFoundError):
        landing.stat("orders/missing.csv")
    with pytest.raises(FileNotFoundError):
        landing.stat("orders/good.csv/below-a-file.csv")
    skipped: list[Skipped] = []
    assert list(landing.list("../outside/", skipped=skipped)) == []
    assert skipped == [Skipped("../outside/", "path escapes the landing prefix")]


def test_an_in_place_edit_that_keeps_size_and_mtime_is_a_new_version(settings):
    path = land(settings, "orders/a.csv", orders_csv(1, 2))
    landing = open_landing(settings)
    before = landing.stat("orders/a.csv")
    await_file_clock_past(path.stat().st_ctime_ns, path.parent)

    path.write_text(orders_csv(1, 2).replace("placed", "PLACED"))  # same size, new bytes (`cp -p`)
    os.utime(path, ns=(path.stat().st_atime_ns, before.mtime_ns))
    after = landing.stat("orders/a.csv")

    assert (after.size, after.mtime_ns) == (before.size, before.mtime_ns)
    assert after.version != before.version
    assert after.changed_ns > before.mtime_ns  # so a sensor's lookback sees it as new
    assert [f.version for f in landing.list("orders/")] == [after.version]


def test_a_replacement_by_rename_is_a_new_version(settings):
    path = land(settings, "orders/a.csv", orders_csv(1, 2))
    landing = open_landing(settings)
    before = landing.stat("orders/a.csv")
    replacement = path.with_name(".a.csv.tmp")
    replacement.write_text(orders_csv(1, 2).replace("placed", "PLACED"))
    os.utime(replacement, ns=(before.mtime_ns, before.mtime_ns))  # `rsync -t`: same size and mtime

    replacement.replace(path)

    assert landing.stat("orders/a.csv").version != before.version


def test_fetch_hands_out_the_bytes_it_checksummed_and_the_version_it_read(settings, tmp_path):
    path = land(settings, "orders/a.csv.gz", b"\x1f\x8b not really gzip")
    landing = open_landing(settings)
    (listed,) = landing.list("orders/")

    with landing.fetch(listed, tmp_path / "scratch") as fetched:
        reader_path, checksum = fetched  # callers unpack it as before
        assert reader_path.name.endswith("-a.csv.gz")  # DuckDB detects compression by suffix
        assert reader_path.read_bytes() == path.read_bytes()
        assert checksum == blake3(path.read_bytes()).hexdigest()
        assert fetched.file == listed and fetched.version == listed.version
        assert os.stat(reader_path).st_ino == path.stat().st_ino

    assert list((tmp_path / "scratch").iterdir()) == []  # nothing left in scratch
    assert path.read_bytes() == b"\x1f\x8b not really gzip"  # the original is untouched


def test_a_file_rewritten_while_it_is_read_raises_file_changed(settings, tmp_path):
    path = land(settings, "orders/a.csv", orders_csv(1, 2))
    landing = open_landing(settings)
    (listed,) = landing.list("orders/")

    with pytest.raises(FileChanged, match="orders/a.csv: changed while it was read; it will be taken again"):
        with landing.fetch(listed, tmp_path / "scratch") as (reader_path, _):
            reader_path.read_bytes()
            with open(path, "a") as writer:  # the writer is still appending
                writer.write(orders_csv(3, 1).splitlines()[1] + "\n")


def test_a_swap_after_the_checksum_cannot_redirect_the_reader(settings, outside, tmp_path):
    path = land(settings, "orders/a.csv", orders_csv(1, 2))
    original = path.read_bytes()
    landing = open_landing(settings)
    (listed,) = landing.list("orders/")

    with pytest.raises(FileChanged):  # the file at the key was replaced: it is taken again
        with landing.fetch(listed, tmp_path / "scratch") as (reader_path, checksum):
            path.unlink()
            path.symlink_to(outside / "passwd")  # swapped for a link between checksum and read
            assert reader_path.read_bytes() == original  # the reader still reads what was checksummed
    assert checksum == blake3(original).hexdigest()


def test_put_if_changed_replaces_a_link_instead_of_writing_through_it(settings, outside, tmp_path):
    root = _root(settings)
    (root / "orders").mkdir(parents=True)
    (root / "orders" / "a.csv").symlink_to(outside / "passwd")
    source = tmp_path / "a.csv"
    source.write_text(orders_csv(1, 1))

    assert LocalLanding(settings.landing_uri).put_if_changed("orders/a.csv", source)

    assert (outside / "passwd").read_text() == SECRET
    assert not (root / "orders" / "a.csv").is_symlink()
    assert (root / "orders" / "a.csv").read_text() == orders_csv(1, 1)


def test_a_wide_and_deep_tree_is_listed_whole_with_few_descriptors(settings):
    import resource

    root = _root(settings)
    keys = [f"orders/{i:04d}/day/f.csv" for i in range(300)] + ["orders/a/b/c/d/e/deep.csv"]
    for key in [*keys, "orders/_tmp/part-0.csv", "orders/.staging/x.csv"]:
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_text("x")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    used = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 64
    resource.setrlimit(resource.RLIMIT_NOFILE, (used + 32, hard))  # far fewer than 300 folders
    try:
        listed = sorted(f.key for f in open_landing(settings).list("orders/"))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert listed == sorted(keys)
