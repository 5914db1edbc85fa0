"""`python -m dagster_project …` is the `foundation` command."""

from dagster_project.cli import main

raise SystemExit(main())
