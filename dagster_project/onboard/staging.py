"""The dbt staging model of a new source, jaffle-shop style: `stg_<name>.sql` and its `stg_<name>.yml`.

One row per primary key (the latest landed version, `latest_version`), PII masked with the macros
of `macros/masking.sql` (emails hashed plus their domain, phones to their last digits, free text
redacted; names and other PII are not carried to staging), then ids, attributes, measures and
timestamps under comment rulers, then lineage.
"""

from __future__ import annotations

from functools import cache

import duckdb

from dagster_project.registry import Dataset

OWNER = "team:data-platform"  # staging models are the platform team's (defs/dbt/assets.py)
MEASURES = ("int", "long", "float", "double")
TIMES = ("date", "timestamp", "timestamptz")
UNIQUE_COMBINATION = "unique_combination_of_columns"  # dbt_project/macros/unique_combination_of_columns.sql


@cache
def _reserved() -> frozenset[str]:
    rows = duckdb.sql("select keyword_name from duckdb_keywords() where keyword_category = 'reserved'")
    return frozenset(r[0] for r in rows.fetchall())


def ident(name: str) -> str:
    """A column name as SQL: quoted only when it is a reserved word."""
    return f'"{name}"' if name in _reserved() else name


def _key_sql(key: tuple[str, ...]) -> str:
    """The key as a macro argument: 'a' for one column, ['a', 'b'] for a composite key."""
    return f"'{key[0]}'" if len(key) == 1 else "[" + ", ".join(f"'{k}'" for k in key) + "]"


def row_identity(dataset: Dataset) -> bool:
    """Whether the key is every column: no column set is unique, a row is identified by all its values.

    Such a key's parts may be null (a missing measure is no missing key), so staging keeps those rows,
    and its incremental merge goes by one `row_key` (a hash of every value, nulls included): dbt's
    delete+insert matches keys with `=`, which never matches a null part.
    """
    columns = [c.name for c in dataset.columns]
    return len(columns) > 1 and set(dataset.primary_key) == set(columns)


def _masked(name: str, pii: str, kind: str) -> list[tuple[str, str, str]]:
    """(SQL, output column, masking macro) for a PII column; empty when it is not carried.

    The masks are text functions: a phone number stored as a number is masked as its text; an email,
    name or free text that is not text (declared so by hand) is not carried.
    """
    text = kind == "string"
    if pii == "email" and text:
        return [
            (f"{{{{ email_hash('{name}') }}}}", f"{name}_hash", "email_hash"),
            (f"{{{{ email_domain('{name}') }}}}", f"{name}_domain", "email_domain"),
        ]
    if pii == "phone" and (text or kind in ("int", "long")):
        column = ident(name) if text else f"cast({ident(name)} as varchar)"
        return [(f"{{{{ phone_last_digits('{column}') }}}}", f"{name}_last_digits", "phone_last_digits")]
    if pii == "free_text" and text:
        sql = f"{{{{ redact_name_shapes(redact_contacts('{ident(name)}')) }}}}"
        return [(sql, name, "redact_contacts, redact_name_shapes")]
    return []


def _key_output(dataset: Dataset, name: str) -> str:
    """A key column's name in staging: `<name>_hash` when it is PII (never carried in clear)."""
    return f"{name}_hash" if dataset.column(name).pii else name


def output_key(dataset: Dataset) -> tuple[str, ...]:
    """The staging model's key columns (its `unique_key`): `row_key`, or each key column's output."""
    if row_identity(dataset):
        return ("row_key",)
    return tuple(_key_output(dataset, k) for k in dataset.primary_key)


def _outputs(dataset: Dataset) -> dict[str, list[tuple[str, str, str, str | None]]]:
    """Each ruler's (SQL, output column, description, PII kind) rows."""
    identity = row_identity(dataset)
    key = () if identity else dataset.primary_key
    sections: dict[str, list[tuple[str, str, str, str | None]]] = {
        "ids": [],
        "masked PII": [],
        "attributes": [],
        "measures": [],
        "timestamps": [],
    }
    if identity:
        values = ", ".join(f"cast({ident(c.name)} as varchar)" for c in dataset.columns)
        sections["ids"].append(
            (
                f'{{{{ key_hash("to_json([{values}])") }}}}',
                "row_key",
                "Salted hash of every value of the row (no column set is unique: a row is identified "
                "by all its values; primary key).",
                None,
            )
        )
    for column in dataset.columns:
        name, kind = column.name, column.type
        description = column.description or name.replace("_", " ").capitalize() + "."
        plain = (ident(name), name, description, None)
        if name in key and column.pii:
            sections["ids"].append(
                (
                    f"{{{{ key_hash('{ident(name)}') }}}}",
                    _key_output(dataset, name),
                    f"{name}, masked (key_hash: a salted hash, as unique as the value; primary key).",
                    column.pii,
                )
            )
        elif name in key:
            sections["ids"].append((ident(name), name, description.rstrip(".") + " (primary key).", None))
        elif column.pii:
            for sql, output, macro in _masked(name, column.pii, kind):
                sections["masked PII"].append((sql, output, f"{name}, masked ({macro}).", column.pii))
        elif kind in MEASURES or kind.startswith("decimal"):
            sections["measures"].append(plain)
        elif kind in TIMES:
            sections["timestamps"].append(plain)
        else:
            sections["attributes"].append(plain)
    return sections


def render_model(dataset: Dataset) -> str:
    """`stg_<name>.sql`."""
    key = dataset.primary_key
    identity = row_identity(dataset)
    # With every column as the key, a null part is a missing value, not a missing key: kept.
    where = "" if identity else "    where " + " and ".join(f"{ident(k)} is not null" for k in key) + "\n"
    parts = [
        f"{{{{ config(unique_key={_key_sql(output_key(dataset))}) }}}}\n\nwith\n\nsource as (\n",
        f"    select * from {{{{ source('raw', '{dataset.name}') }}}}\n",
        f"{where}    {{{{ latest_version({_key_sql(key)}) }}}}\n),\n\n",
        "renamed as (\n    select\n",
    ]
    carried = () if identity else key
    dropped = [
        c.name
        for c in dataset.columns
        if c.pii and c.name not in carried and not _masked(c.name, c.pii, c.type)
    ]
    for ruler, rows in _outputs(dataset).items():
        if ruler == "masked PII" and dropped:
            parts.append(f"        ---------- masked PII (not carried: {', '.join(dropped)})\n")
        elif rows:
            parts.append(f"        ---------- {ruler}\n")
        for sql, output, _, _ in rows:
            parts.append(
                f"        {sql},\n" if sql == ident(output) else f"        {sql} as {ident(output)},\n"
            )
        if rows or (ruler == "masked PII" and dropped):
            parts.append("\n")
    parts.append(
        "        ---------- lineage\n"
        "        _source_file as source_file,\n"
        "        _ingested_at as ingested_at,\n"
        "        _raw_sequence_number,\n"
        "        {{ audit_columns() }}\n"
        "    from source\n)\n\nselect * from renamed\n"
    )
    return "".join(parts)


def grain(dataset: Dataset) -> str:
    if row_identity(dataset):
        return "distinct row (row_key: every column is the key, exact repeats dropped)"
    key = list(output_key(dataset))
    return key[0] if len(key) == 1 else ", ".join(key[:-1]) + " and " + key[-1]


def _yaml_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_model_yaml(dataset: Dataset) -> str:
    """`stg_<name>.yml`: the grain sentence, every column described, key tests."""
    name = dataset.name
    key = output_key(dataset)
    sentence = (
        f"One row per {grain(dataset)}, the most recently landed version of raw.{name}, typed and renamed."
    )
    lines = [
        "version: 2\n\nmodels:\n",
        f"  - name: stg_{name}\n",
        f"    description: {_yaml_text(sentence)}\n",
        f"    config:\n      meta:\n        owner: {OWNER}\n",
    ]
    if len(key) > 1:
        lines.append(
            f"    data_tests:\n      - {UNIQUE_COMBINATION}:\n          arguments:\n"
            f"            combination_of_columns: [{', '.join(key)}]\n"
        )
    lines.append("    columns:\n")
    for rows in _outputs(dataset).values():
        for _, output, description, pii in rows:
            lines.append(f"      - name: {output}\n        description: {_yaml_text(description)}\n")
            if pii:
                lines.append(f"        meta: {{pii: {pii}}}\n")
            if output in key:
                lines.append(
                    "        data_tests: [not_null, unique]\n"
                    if len(key) == 1
                    else "        data_tests: [not_null]\n"
                )
    for output, description in (
        ("source_file", "Landed file this version came from."),
        ("ingested_at", "When the raw ingest run that landed this version started (UTC)."),
        (
            "_raw_sequence_number",
            f"Sequence number of the raw.{name} commit this version came from (the incremental watermark).",
        ),
        ("_invocation_id", "dbt invocation that wrote this row."),
        ("_loaded_at", "When that invocation built this model (UTC)."),
    ):
        lines.append(f"      - name: {output}\n        description: {_yaml_text(description)}\n")
    return "".join(lines)
