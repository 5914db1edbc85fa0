"""The registry entry of an inferred source, written into `sources.yml` with its comments kept.

ruamel.yaml reads and writes the file round trip (comments, flow style and quoting of the other
entries stay byte for byte); what a person must review carries a `# TODO review` comment.
"""

from __future__ import annotations

import io
import json
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString as Quoted

from dagster_project.onboard.inferred import Inferred
from dagster_project.onboard.landed import OnboardError

TODO = "TODO review"
PLACEHOLDER_OWNER = "team:unassigned"


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _flow(items: dict[str, Any]) -> CommentedMap:
    mapping = CommentedMap(items)
    mapping.fa.set_flow_style()
    return mapping


def _flow_list(items: list[Any]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def grain(inferred: Inferred) -> str:
    """The key in words: 'order_id', or 'order_id and line_no'."""
    key = inferred.primary_key
    if every_column(inferred):
        return "distinct row (no column set is unique: every column is the key)"
    return key[0] if len(key) == 1 else ", ".join(key[:-1]) + " and " + key[-1]


def every_column(inferred: Inferred) -> bool:
    """Whether the key is every column (no column, pair or triple was unique)."""
    return len(inferred.columns) > 1 and set(inferred.primary_key) == {c.name for c in inferred.columns}


def registry_entry(inferred: Inferred) -> CommentedMap:
    """The dataset's registry mapping; only what differs from the registry's defaults is written."""
    entry = CommentedMap()
    entry["description"] = f"One row per {grain(inferred)}, as landed under {inferred.prefix}."
    entry.yaml_add_eol_comment(f"{TODO}: what one row is, where it comes from", "description")
    entry["owner"] = PLACEHOLDER_OWNER
    entry.yaml_add_eol_comment(f"{TODO}: the owning team (team:<name>) or an email address", "owner")
    entry["landing"] = _flow({"prefix": inferred.prefix, "glob": Quoted(inferred.glob)})
    entry["format"] = inferred.format
    if inferred.encoding != "utf-8":
        entry["encoding"] = inferred.encoding
    if inferred.compression:
        entry["compression"] = inferred.compression
    csv = _csv_block(inferred)
    if csv:
        entry["csv"] = csv
    formats: dict[str, Any] = {}
    if inferred.date_format:
        formats["date"] = Quoted(inferred.date_format)
    if inferred.timestamp_format:
        formats["timestamp"] = Quoted(inferred.timestamp_format)
    if inferred.naive_timestamps:
        formats["timezone"] = "UTC"
    if formats:
        entry["formats"] = _flow(formats)
        if inferred.naive_timestamps:
            entry.yaml_add_eol_comment(f"{TODO}: the zone the naive timestamps are written in", "formats")
    if inferred.flatten:
        entry["json"] = _flow({"nested": "flatten"})
    entry["primary_key"] = _flow_list(list(inferred.primary_key))
    entry.yaml_add_eol_comment(
        f"{TODO}: no column set is unique, so a row is identified by all its values (nulls included; "
        "staging drops exact repeats only): name the real key if there is one"
        if every_column(inferred)
        else f"{TODO}: unique and never null within each landed file",
        "primary_key",
    )
    if inferred.partition_column:
        entry["partition_column"] = inferred.partition_column
    columns = CommentedMap()
    for profile in inferred.columns:
        spec: dict[str, Any] = {"type": profile.type}
        if profile.pii:
            spec["pii"] = profile.pii
        columns[profile.name] = _flow(spec)
        if profile.pii:
            columns.yaml_add_eol_comment(f"{TODO}: PII guessed from the name or values", profile.name)
        elif not inferred.dialect.header and inferred.format == "csv":
            columns.yaml_add_eol_comment(f"{TODO}: the file has no header; name the column", profile.name)
    entry["columns"] = columns
    return entry


def _csv_block(inferred: Inferred) -> CommentedMap | None:
    if inferred.format != "csv":
        return None
    dialect = inferred.dialect
    options: dict[str, Any] = {}
    if dialect.delimiter != ",":
        options["delimiter"] = Quoted(dialect.delimiter)
    if dialect.quote != '"':
        options["quote"] = Quoted(dialect.quote)
    if dialect.escape != '"':
        options["escape"] = Quoted(dialect.escape)
    if not dialect.header:
        options["header"] = False
    if dialect.comment:
        options["comment"] = Quoted(dialect.comment)
    if inferred.null_markers != [""]:
        options["null_markers"] = _flow_list([Quoted(m) for m in inferred.null_markers])
    if inferred.decimal_comma:
        options["decimal"] = Quoted(",")
    return _flow(options) if options else None


def plain(value: Any) -> Any:
    """A ruamel tree as plain dicts, lists and scalars (for comparing declarations)."""
    return json.loads(json.dumps(value))


def declared(text: str, name: str) -> Any:
    """`name`'s entry in the registry file's text, as plain data; None when it is not declared."""
    document = _yaml().load(text)
    datasets = document.get("datasets") if isinstance(document, dict) else None
    return plain(datasets[name]) if datasets and name in datasets else None


def with_entry(text: str, name: str, entry: CommentedMap, *, replace: bool) -> str:
    """The registry file's text with `name` declared as `entry` (appended, or replaced in place).

    Raises:
        OnboardError: `name` is declared already with another declaration and `replace` is false.
    """
    yaml = _yaml()
    document = yaml.load(text)
    datasets = document.get("datasets") if isinstance(document, dict) else None
    if datasets is None:
        raise OnboardError("the registry has no 'datasets:' mapping; add `datasets:` to it first")
    if name in datasets:
        if plain(datasets[name]) == plain(entry):
            return text
        if not replace:
            raise OnboardError(
                f"{name!r} is declared already, differently; review the diff with --dry-run --force, "
                "then run again with --force to replace it (and its suite and staging model)"
            )
        datasets[name] = entry
    else:
        datasets[name] = entry
        if len(datasets) > 1:
            datasets.yaml_set_comment_before_after_key(name, before="\n")
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()
