"""The CLI is a table of verbs; a user's error of any verb is one line and one exit code, from one place."""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

from dagster_project import cli
from dagster_project.errors import EnvironmentFailure, FoundationError
from dagster_project.governance.policy import QueryDenied
from dagster_project.subcommand import Subcommand

PACKAGE = Path(cli.__file__).parent
# Exceptions that never reach a user as a command's error: the code that raises them is the code
# that catches them and turns them into an outcome. A new exception class belongs to one of the two
# bases (errors.py), or here with the reason.
INTERNAL = {
    "Invalid": "a validator's finding inside pydantic; validation.describe raises the file's FoundationError",
    "FileRejected": "a landed file's content is wrong: it becomes a quarantine record",
    "DocumentRejected": "a landed document's content is wrong: it becomes a quarantine record",
    "FileChanged": "the file changed while it was read: skipped, taken again next time",
    "AuditFailed": "the quality gate said no: the batch is held back (foundation held)",
    "PublishError": "the commit lost every retry: the run fails and Dagster retries it",
    "MaintenanceConflict": "commits kept moving main: a note in the table's maintenance report",
    "NotAppendOnly": "rows changed in place: the consumer reads the table in full instead",
}
# Every verb with the least it parses with: a new verb is added here, so the test below covers it.
ARGV = {
    "status": [],
    "demo": [],
    "ingest": [],
    "generate": [],
    "held": [],
    "search": ["a question", "--as", "analyst"],
    "cards": [],
    "query": ["select 1", "--as", "analyst"],
    "history": ["raw.orders"],
    "maintain": [],
    "catalog": ["check"],
    "rebuild": ["raw.orders"],
    "retry": ["orders"],
    "sources": ["add", "orders"],
    "docs": ["serve"],
    "release": ["raw.orders", "audit-x"],
    "discard": ["raw.orders", "audit-x"],
}


def _exception_classes() -> dict[str, list[str]]:
    """Every exception class defined in the package, by name, with the names of its bases."""
    classes: dict[str, list[list[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases]
                classes.setdefault(node.name, []).append(bases)
    builtin = {n for n in dir(builtins) if isinstance(getattr(builtins, n), type)}
    exceptions: dict[str, list[str]] = {}
    grew = True
    while grew:  # a class is an exception when a base is a builtin exception or one found before
        grew = False
        for name, definitions in classes.items():
            for bases in definitions:
                is_exception = any(
                    b in exceptions or (b in builtin and issubclass(getattr(builtins, b), BaseException))
                    for b in bases
                )
                if is_exception and name not in exceptions:
                    assert len(definitions) == 1, f"two exception classes named {name}: the scan needs one"
                    exceptions[name] = bases
                    grew = True
    return exceptions


def _roots(name: str, exceptions: dict[str, list[str]]) -> set[str]:
    found = {name} if name in ("FoundationError", "EnvironmentFailure") else set()
    for base in exceptions.get(name, []):
        found |= _roots(base, exceptions) if base in exceptions else set()
    return found


def test_every_exception_a_user_meets_is_a_foundation_error_or_an_environment_failure():
    exceptions = _exception_classes()
    assert {"FoundationError", "EnvironmentFailure", "QueryDenied", "CatalogUnavailable"} <= set(exceptions)
    loose = sorted(n for n in exceptions if not _roots(n, exceptions) and n not in INTERNAL)
    assert loose == [], "derive these from FoundationError (the user can fix it) or EnvironmentFailure"
    assert sorted(set(INTERNAL) - set(exceptions)) == []  # no stale entry
    both = sorted(n for n in exceptions if _roots(n, exceptions) == {"FoundationError", "EnvironmentFailure"})
    assert both == []


def test_the_table_has_every_verb_once_and_each_handler_resolves():
    names = [s.name for s in cli.SUBCOMMANDS]
    assert len(names) == len(set(names)) and set(names) == set(ARGV)
    for subcommand in cli.SUBCOMMANDS:
        assert callable(subcommand.load_handler()), subcommand.handler


@pytest.mark.parametrize(
    ("error", "line", "code"),
    [
        (FoundationError("no such thing; run `foundation status`"), "error: no such thing", 2),
        (QueryDenied("persona 'analyst' may not read raw.orders"), "denied: persona 'analyst'", 3),
        (EnvironmentFailure("the catalog is locked; retry"), "error: the catalog is locked", 3),
    ],
    ids=["user error", "denied", "environment"],
)
@pytest.mark.parametrize("verb", sorted(ARGV))
def test_an_error_of_any_verb_is_one_line_and_its_exit_code(monkeypatch, capsys, verb, error, line, code):
    ran = []

    def failing(self: Subcommand):  # noqa: ANN202 - the handler the table names, raising
        def handler(settings, args):  # noqa: ANN001, ANN202
            ran.append(self.name)
            assert args.command == verb
            raise error

        return handler

    monkeypatch.setattr(Subcommand, "load_handler", failing)
    monkeypatch.setattr(cli, "load_settings", lambda: None)

    assert cli.main([verb, *ARGV[verb]]) == code
    assert ran == [verb]  # dispatched by lookup to the verb's own handler
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(line) and err.count("\n") == 1, err
