"""Every refusal and failure is one line and one audit row; no row value reaches the audit log or the CLI."""

from __future__ import annotations

import logging
import re
from dataclasses import replace

import pytest

from dagster_project.cli import main
from dagster_project.governance.policy import PolicyError
from dagster_project.governance.query import QueryFailed, QueryRejected, run_query
from tests.governance.conftest import EMAIL, PHONE


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("select 'abc from raw.people", "could not parse the statement"),  # unclosed quote
        ('select "abc from raw.people', "could not parse the statement"),
        ("select 1 /* never closed", "could not parse the statement"),
        ("select " + "(" * 3000 + "1" + ")" * 3000, "nested too deeply"),
        ("select * frm raw.people", "could not parse the statement"),
        ("delete from raw.people", "only SELECT is allowed"),
    ],
)
def test_parse_errors_and_refusals_are_one_line_and_audited(lake, monkeypatch, capsys, sql, message):
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(lake.settings.data_dir))
    assert main(["query", "--as", "data_engineer", sql]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") or message in err.splitlines()[0], err
    assert err.count("\n") == 1 and "Traceback" not in err
    (event,) = lake.audit(sql)
    assert (event["action"], event["outcome"]) == ("query_rejected", "refused")
    assert message in event["message"]


def test_an_unknown_function_keeps_duckdbs_words_about_the_statement(lake):
    sql = "select no_such_function(id) from raw.people"
    with pytest.raises(QueryFailed, match="Scalar Function with name no_such_function does not exist"):
        run_query(lake.settings, "data_engineer", sql)
    (event,) = lake.audit(sql)
    assert (event["action"], event["outcome"]) == ("query_failed", "error")


# Each makes DuckDB quote a row value in its error: in quotes, unquoted, or as a pattern.
LEAKY = [
    ("select cast(email as integer) from raw.people", "converted to INT32"),
    ("select cast(phone as date) from raw.people", "could not be converted"),
    ("select cast(email as struct(a int)) from raw.people", "could not be converted"),
    ("select error(email) from raw.people where id = 1", "a function was given input"),
    ("select json(email) from raw.people", "a function was given input"),
    ("select strptime(phone, '%Y') from raw.people where id = 1", "a function was given input"),
    ("select regexp_matches('x', phone) from raw.people where id = 1", "a function was given input"),
    ("select cast(replace(phone, ' ', '') as bigint) * 9223372036854775 from raw.people", "out of range"),
]


def test_no_row_value_reaches_the_audit_log_the_cli_or_the_logs(lake, monkeypatch, capsys, caplog):
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(lake.settings.data_dir))
    printed = []
    with caplog.at_level(logging.DEBUG):
        for sql, words in LEAKY:
            assert main(["query", "--as", "data_engineer", sql]) == 2, sql
            out, err = capsys.readouterr()
            assert words in err and err.count("\n") == 1, (sql, err)
            printed.append(out + err)
    events = lake.audit()
    assert len(events) == len(LEAKY)
    assert {(e["action"], e["outcome"]) for e in events} == {("query_failed", "error")}
    planted = [EMAIL, PHONE, "7946", "ada.lovelace", "+4420"]

    def leaked(text: str) -> list[str]:
        # Not inside a longer number: a random snapshot or run id holds any 4 digits now and then.
        return [p for p in planted if re.search(rf"(?<!\d){re.escape(p)}(?!\d)", text)]

    for event in events:
        # The statement is what the user typed; every other column must be free of row values.
        cells = " ".join(str(v) for k, v in event.items() if k != "statement")
        assert not leaked(cells), event
    assert not leaked("".join(printed) + caplog.text)


def test_a_mask_that_fails_on_a_value_names_the_view_and_not_the_value(lake, tmp_path):
    personas = tmp_path / "personas.yml"
    personas.write_text(
        "version: 1\npersonas:\n  clumsy:\n    identities: ['*']\n    tables: ['raw.people']\n"
        "    columns:\n      raw.people:\n        email: {sql: 'cast(email as integer)'}\n",
        encoding="utf-8",
    )
    settings = replace(lake.settings, personas_file=personas)
    with pytest.raises(QueryFailed) as caught:
        run_query(settings, "clumsy", "select email from raw.people")
    message = str(caught.value)
    assert "view of raw.people failed" in message and "masks and row filter" in message
    assert EMAIL not in message and EMAIL not in str(lake.audit("select email from raw.people"))


def test_a_broken_personas_file_is_refused_and_audited(lake, tmp_path):
    personas = tmp_path / "personas.yml"
    personas.write_text("version: 1\npersonas:\n  x:\n    tables: oops\n", encoding="utf-8")
    sql = "select 1 from raw.people"
    with pytest.raises(PolicyError):
        run_query(replace(lake.settings, personas_file=personas), "x", sql)
    (event,) = lake.audit(sql)
    assert (event["action"], event["outcome"]) == ("query_rejected", "refused")


def test_rejections_keep_their_class(lake):
    with pytest.raises(QueryRejected):
        run_query(lake.settings, "data_engineer", "select 'abc")
