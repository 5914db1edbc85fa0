"""Clean-text benchmark: navigation in chunks and content lost, on documentation and help-site pages.

The 48 pages of tests/documents/sites.py (six generators' templates: Sphinx / Read the Docs, MkDocs
Material, Docusaurus, a help-center article, an ASP.NET page inside one `<form>`, a hand-written
page with an unclosed `<nav>`) go through `extract` and the default chunker. Measured: the share of
chunks holding navigation text (target <= 1%) and content paragraphs lost (target 0); the baseline
is the page's whole text (lxml `text_content`, no extraction). Writes `.data/bench/clean_text.json`.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import lxml.html

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.documents.sites: the page set

from dagster_project.settings import load_settings  # noqa: E402
from tests.documents.sites import measure  # noqa: E402


def _whole_page(path: Path, label: str) -> str:
    tree = lxml.html.document_fromstring(path.read_text(encoding="utf-8"))
    return " ".join(tree.xpath("//text()[not(ancestor::script or ancestor::style or ancestor::title)]"))


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        ours = measure(Path(tmp) / "ours")
        baseline = measure(Path(tmp) / "baseline", _whole_page)
    met = ours["navigation_share"] <= 0.01 and ours["content_lost"] == 0
    row = {
        "benchmark": "clean text (HTML docs and help pages)",
        "ours": f"navigation in {ours['navigation_share']:.1%} of chunks, "
        f"{ours['content_lost']} of {ours['content_paragraphs']} paragraphs lost",
        "baseline": f"whole page text: navigation in {baseline['navigation_share']:.1%} of chunks",
        "ratio": "",
        "target": "navigation <= 1% of chunks, 0 paragraphs lost",
        "peak_rss_mib": None,
        "input": f"{ours['pages']} pages, 6 generators' templates, {ours['chunks']} chunks",
    }
    result = {"benchmark": "clean_text", "ours": ours, "baseline": baseline, "pass": met}
    result["report_rows"] = [row]
    out = load_settings().data_dir / "bench" / "clean_text.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
