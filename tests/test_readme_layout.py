"""The README's repository layout names every module of `dagster_project/` once, and nothing that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "dagster_project"
# One entry a line: two spaces per level, the name (a folder ends in "/"), then its phrase. A phrase that
# wraps onto a second line would read as an entry, so the parser refuses it rather than guess.
ENTRY = re.compile(r"^(?P<indent>(?:  )*)(?P<name>[\w.-]+/?)(?: {2,}\S.*)?$")


def layout_entries(readme: str, package: str = PACKAGE) -> list[str]:
    """The paths the layout's `<package>/` tree lists, in order, relative to the repository root.

    Raises:
        ValueError: The layout has no such tree, or a line of it is not an entry.
    """
    section = readme.split("\n## Repository layout\n", 1)[-1]
    lines = section.split("```", 2)[1].splitlines() if section.count("```") >= 2 else []
    if f"{package}/" not in lines:
        raise ValueError(f"the README's repository layout has no `{package}/` tree")
    paths: list[str] = []
    folders = [package]
    for line in lines[lines.index(f"{package}/") + 1 :]:
        if not line.strip():
            continue
        if not line.startswith("  "):
            break  # the next top-level entry: the package's tree is over
        match = ENTRY.match(line)
        depth = len(match["indent"]) // 2 if match else 0
        if not match or depth > len(folders):
            raise ValueError(f"not an entry of the layout (`<indent><name>  <phrase>`, one line): {line!r}")
        folders = folders[:depth]
        name = match["name"]
        paths.append("/".join([*folders, name.rstrip("/")]))
        if name.endswith("/"):
            folders.append(name.rstrip("/"))
    return paths


def layout_problems(readme: str, root: Path, package: str = PACKAGE) -> list[str]:
    """Modules missing from the layout, entries listed twice, and entries naming nothing in the code."""
    listed = layout_entries(readme, package)
    modules = sorted(
        p.relative_to(root).as_posix() for p in (root / package).rglob("*.py") if p.name != "__init__.py"
    )
    problems = [f"{m}: missing from the README's repository layout" for m in modules if m not in listed]
    problems += [f"{p}: listed more than once" for p in sorted({p for p in listed if listed.count(p) > 1})]
    problems += [f"{p}: in the layout, not in the code" for p in listed if not (root / p).exists()]
    return problems


def test_the_readme_layout_lists_every_module_of_the_package_once() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    assert layout_problems(readme, ROOT) == []


def test_a_module_missing_listed_twice_or_gone_is_named(tmp_path: Path) -> None:
    for module in ("pkg/a.py", "pkg/sub/__init__.py", "pkg/sub/b.py", "pkg/sub/new.py"):
        (tmp_path / module).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / module).touch()
    readme = (
        "# x\n\n## Repository layout\n\n```\npkg/\n  a.py        first\n  sub/        a folder\n"
        "    b.py      second\n    gone.py   removed since\n  a.py        again\n"
        "docs/       not the package\n```\n"
    )

    assert layout_problems(readme, tmp_path, "pkg") == [
        "pkg/sub/new.py: missing from the README's repository layout",
        "pkg/a.py: listed more than once",
        "pkg/sub/gone.py: in the layout, not in the code",
    ]
