"""One `foundation` verb as data: its name, its help, the arguments it takes, and the function that runs it.

Each verb is declared in the `commands` module of its concern (`<package>/commands.py`, or
`<concern>_commands.py` at the top level: `cards/commands.py` declares `cards`, `ingest_commands.py`
declares `ingest`; `status.py` is its own concern); `cli.py` builds the parser from the list of them
and runs the chosen one by lookup. The declaring modules stay cheap to import, because `foundation
--help` builds every verb's arguments: the handler is named as "module:function" and imported only
when its verb runs, so a cold `foundation status` never imports what `foundation ingest` needs
(Dagster, dbt).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass

from dagster_project.settings import Settings

Handler = Callable[[Settings, argparse.Namespace], int]


@dataclass(frozen=True)
class Subcommand:
    """A `foundation` verb.

    Attributes:
        name: The verb, e.g. `status`.
        help: One line for `foundation --help`.
        handler: "module:function" of the function that runs it: `(settings, args) -> exit code`.
        arguments: Adds the verb's own arguments (and sub-verbs) to its parser; None: it takes none.
    """

    name: str
    help: str
    handler: str
    arguments: Callable[[argparse.ArgumentParser], None] | None = None

    def load_handler(self) -> Handler:
        """Import the handler's module (only now: it may import Dagster, dbt or the query engine)."""
        module, _, function = self.handler.partition(":")
        return getattr(importlib.import_module(module), function)


def positive_int(text: str) -> int:
    """An argparse type: a whole number above 0."""
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value


def positive(text: str) -> float:
    """An argparse type: a number above 0."""
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value
