"""Maintenance assets `maintenance/compact_files` → `expire_snapshots` → `remove_orphan_files`."""

from collections.abc import Sequence

import dagster as dg

from dagster_project.defs.dbt.assets import DBT_POOL, OWNER
from dagster_project.defs.resources import Foundation
from dagster_project.lakehouse.table_maintenance import MaintenanceReport

GROUP = "maintenance"


class MaintenanceConfig(dg.Config):
    """Which tables one run maintains, and whether it only reports."""

    tables: list[str] = []  # `namespace.table`; empty: every table of the catalog
    dry_run: bool = False  # report what would change, change nothing


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def report_metadata(reports: Sequence[MaintenanceReport]) -> dict[str, dg.MetadataValue]:
    """A markdown table per table (before → after) and numeric totals the UI plots over time."""
    lines = [
        "| table | snapshots | data files | data bytes | removed | notes |",
        "|---|---|---|---|---|---|",
    ]
    for r in reports:
        lines.append(
            f"| {r.table} | {r.before.snapshots} → {r.after.snapshots} "
            f"| {r.before.data_files} → {r.after.data_files} "
            f"| {_size(r.before.data_bytes)} → {_size(r.after.data_bytes)} "
            f"| {r.files_removed} ({_size(r.bytes_removed)}) | {'; '.join(r.notes).replace('|', '/')} |"
        )
    total = lambda attr: sum(getattr(r, attr) for r in reports)  # noqa: E731
    before = lambda attr: sum(getattr(r.before, attr) for r in reports)  # noqa: E731
    after = lambda attr: sum(getattr(r.after, attr) for r in reports)  # noqa: E731
    return {
        "tables": dg.MetadataValue.md("\n".join(lines)),
        "table_count": dg.MetadataValue.int(len(reports)),
        "dry_run": dg.MetadataValue.bool(any(r.dry_run for r in reports)),
        "snapshots_before": dg.MetadataValue.int(before("snapshots")),
        "snapshots_after": dg.MetadataValue.int(after("snapshots")),
        "data_files_before": dg.MetadataValue.int(before("data_files")),
        "data_files_after": dg.MetadataValue.int(after("data_files")),
        "data_bytes_before": dg.MetadataValue.int(before("data_bytes")),
        "data_bytes_after": dg.MetadataValue.int(after("data_bytes")),
        "files_removed": dg.MetadataValue.int(total("files_removed")),
        "bytes_removed": dg.MetadataValue.int(total("bytes_removed")),
        "files_added": dg.MetadataValue.int(total("files_added")),
        "snapshots_expired": dg.MetadataValue.int(total("snapshots_expired")),
    }


def dbt_manifest() -> dict | None:
    # Which raw tables dbt reads incrementally; the consumers' watermarks say it too, so a missing
    # manifest only loses the consumers that have not been built yet.
    from dagster_project.defs.dbt.assets import dbt_project, load_manifest

    try:
        return load_manifest(dbt_project())
    except FileNotFoundError:
        return None


def _maintenance_asset(name: str, operation: str, description: str, deps: list[dg.AssetKey]):
    @dg.asset(
        key=dg.AssetKey([GROUP, name]),
        group_name=GROUP,
        description=description,
        owners=[OWNER],
        kinds={"iceberg"},
        deps=deps,
        # Same pool as dbt builds: maintenance never rewrites a model table while dbt publishes it.
        pool=DBT_POOL,
    )
    def _asset(
        context: dg.AssetExecutionContext, config: MaintenanceConfig, foundation: Foundation
    ) -> dg.MaterializeResult:
        from dagster_project.lakehouse.catalog_maintenance import failed, run_maintenance

        reports = run_maintenance(
            foundation.settings(),
            operation,
            tables=config.tables,
            dry_run=config.dry_run,
            manifest=dbt_manifest() if operation == "compact" else None,
            log=context.log,
            run_id=context.run.run_id,
        )
        metadata = report_metadata(reports)
        broken = failed(reports)
        if broken:
            raise dg.Failure(
                description=f"{operation} failed on {', '.join(r.table for r in broken)}; "
                "the other tables were maintained. See the run logs for each error.",
                metadata=metadata,
            )
        return dg.MaterializeResult(metadata=metadata)

    return _asset


def build_maintenance_assets() -> list[dg.AssetsDefinition]:
    compact = _maintenance_asset(
        "compact_files",
        "compact",
        "Rewrites each partition's small data files into fewer larger ones in one `replace` commit "
        "per table. Raw tables read incrementally are compacted only up to what every consumer read.",
        [],
    )
    expire = _maintenance_asset(
        "expire_snapshots",
        "expire_snapshots",
        "Expires snapshots older than the retention window (keeping main's last commits and every "
        "branch head); what they recorded (ingested files, watermarks) moves to a checkpoint commit.",
        [compact.key],
    )
    orphans = _maintenance_asset(
        "remove_orphan_files",
        "remove_orphan_files",
        "Deletes files under each table that no retained snapshot or metadata file references and "
        "that are older than the grace period (left by aborted writes or expired snapshots).",
        [expire.key],
    )
    return [compact, expire, orphans]
