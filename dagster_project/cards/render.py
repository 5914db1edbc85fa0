"""A card as markdown (for Dagster's UI) and as one self-contained HTML page (inline CSS, no scripts)."""

from __future__ import annotations

import html
import re

from dagster_project.cards.content import Bullets, Card, Grid, Text

_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1d2430}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #dde2ea}
p.grain{font-size:1.1em;color:#3b4a5e;margin-top:0}
table{border-collapse:collapse;width:100%;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #dde2ea;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f3f5f8}dl.facts{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}
dl.facts dt{font-weight:600}dl.facts dd{margin:0}code{background:#f3f5f8;padding:0 .2em;border-radius:3px}
"""
_CODE = re.compile(r"`([^`]+)`")


def _md_inline(text: str) -> str:
    # Markdown renderers pass raw HTML through: escape it so a value can never become markup.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def _md_cell(text: str) -> str:
    return _md_inline(text).replace("|", "\\|")


def to_markdown(card: Card) -> str:
    """The card as GitHub-flavoured markdown; every value is escaped (no raw HTML gets through)."""
    lines = [f"# Data card: {_md_inline(card.table)}", "", f"_{_md_inline(card.one_row)}_", ""]
    lines += [f"- **{_md_inline(k)}:** {_md_inline(v)}" for k, v in card.facts]
    for section in card.sections:
        lines += ["", f"## {_md_inline(section.title)}", ""]
        for block in section.blocks:
            if isinstance(block, Text):
                lines += [_md_inline(block.text), ""]
            elif isinstance(block, Bullets):
                lines += [f"- {_md_inline(item)}" for item in block.items] + [""]
            elif isinstance(block, Grid):
                lines.append("| " + " | ".join(_md_cell(h) for h in block.headers) + " |")
                lines.append("|" + "---|" * len(block.headers))
                lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
                lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _html_inline(text: str) -> str:
    # Escape first, then turn `code` spans into <code>: backticks survive escaping unchanged.
    return _CODE.sub(r"<code>\1</code>", html.escape(text, quote=True))


def to_html(card: Card) -> str:
    """The card as a single HTML page with inline CSS and no external assets or scripts."""
    title = html.escape(f"Data card: {card.table}")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title><style>{_CSS}</style></head><body>",
        f"<h1>{title}</h1>",
        f'<p class="grain">{_html_inline(card.one_row)}</p>',
        '<dl class="facts">',
        *(f"<dt>{_html_inline(k)}</dt><dd>{_html_inline(v)}</dd>" for k, v in card.facts),
        "</dl>",
    ]
    for section in card.sections:
        parts.append(f"<section><h2>{_html_inline(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Text):
                parts.append(f"<p>{_html_inline(block.text)}</p>")
            elif isinstance(block, Bullets):
                parts.append("<ul>" + "".join(f"<li>{_html_inline(i)}</li>" for i in block.items) + "</ul>")
            elif isinstance(block, Grid):
                head = "".join(f"<th>{_html_inline(h)}</th>" for h in block.headers)
                cells = ("".join(f"<td>{_html_inline(c)}</td>" for c in row) for row in block.rows)
                body = "".join(f"<tr>{row}</tr>" for row in cells)
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
