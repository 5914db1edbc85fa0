# ruff: noqa: E501 - page templates are HTML as generators write it, one long line per element
"""Test pages built like real documentation and help sites, with what each must and must not give.

Each generator's page template (Sphinx / Read the Docs, MkDocs Material, Docusaurus, a help-center
article, an ASP.NET-style page wrapped in one `<form>`, a hand-written page with an unclosed `<nav>`
and malformed markup) wraps several topics. A `Page` lists its content paragraphs (all must be in
the extracted text) and its navigation strings (none may be). Shared by
tests/documents/test_clean_text.py and benchmarks/bench_clean_text.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dagster_project.documents.chunking import ChunkingOptions, chunk_document
from dagster_project.documents.extract import DocumentRejected, extract


@dataclass(frozen=True)
class Page:
    name: str
    html: str
    content: list[str]
    navigation: list[str]


# (title, [(section heading, paragraph), ...]): the articles' own text.
TOPICS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Installing the command-line tool",
        [
            ("Requirements", "The tool runs on Python 3.11 and needs about 200 MB of disk for its cache."),
            ("Install with pip", "Create a virtual environment first, then install the package into it."),
            (
                "Check the install",
                "Run the version command; it prints the release number and the build date.",
            ),
        ],
    ),
    (
        "Configuring storage",
        [
            ("Local folders", "By default every file lands in a folder next to the project, one per source."),
            ("Object storage", "Point the landing zone at a bucket by setting its address and credentials."),
            ("Retention", "Landed files are kept for thirty days after they were processed successfully."),
        ],
    ),
    (
        "Scheduling jobs",
        [
            (
                "Cron expressions",
                "A schedule takes a five-field cron expression evaluated in the server's zone.",
            ),
            ("Missed runs", "When the server was down at the scheduled time, the next start runs it once."),
            ("Pausing", "A paused schedule keeps its history and resumes at the next tick after unpausing."),
        ],
    ),
    (
        "Resetting your password",
        [
            (
                "From the sign-in page",
                "Choose the forgotten password link and enter the address you signed up with.",
            ),
            (
                "The reset email",
                "The email arrives within ten minutes; its link works once and expires in a day.",
            ),
            (
                "Still locked out",
                "After five failed attempts the account locks for fifteen minutes for safety.",
            ),
        ],
    ),
    (
        "Exporting reports",
        [
            ("Formats", "Reports export as comma-separated values, as a spreadsheet or as a printable page."),
            (
                "Large exports",
                "An export of more than a million rows is prepared in the background and emailed.",
            ),
            ("Time zones", "Dates in an export use the time zone chosen in your workspace preferences."),
        ],
    ),
    (
        "Writing custom checks",
        [
            (
                "Anatomy of a check",
                "A check is a function that receives a batch and returns passed or failed.",
            ),
            ("Severity", "Warnings are reported on the run page; errors stop the batch from publishing."),
            ("Testing checks", "Give each check a small batch that must pass and another that must fail."),
        ],
    ),
    (
        "Understanding invoices",
        [
            (
                "Invoice dates",
                "Invoices are issued on the first working day of the month for the month before.",
            ),
            ("Taxes", "Value added tax is shown per line and in total, at the rate of the billing country."),
            (
                "Corrections",
                "A wrong invoice is never edited; a credit note cancels it and a new one is issued.",
            ),
        ],
    ),
    (
        "Upgrading to version 3",
        [
            (
                "Breaking changes",
                "The settings file moved from the home folder into the project folder itself.",
            ),
            (
                "Deprecated options",
                "Options marked deprecated in version 2 now raise an error naming the new option.",
            ),
            (
                "Rolling back",
                "Keep the old lock file until the upgrade is verified; reinstalling from it rolls back.",
            ),
        ],
    ),
]

# Navigation a site template puts around every article: none of it may be in the extracted text.
SIDEBAR = [
    "Welcome to Acme Platform",
    "Quickstart in five minutes",
    "Release notes archive",
    "API reference index",
    "Contributor covenant",
]
CHROME = [
    "Skip to main content",
    "Edit this page on GitHub",
    "Was this article helpful?",
    "Copyright 2026 Acme Software Foundation",
    "Built with a documentation theme by its contributors",
    "Search the documentation",
    "Table of contents",
    "Previous: Older topic",
    "Next: Newer topic",
    "Sign in to submit a request",
]
HIDDEN = [
    "Hidden promotional banner text",
    "Screen-reader-only duplicate header",
    "Template placeholder copy",
]


def _sections(sections: list[tuple[str, str]], headerlink: str, slug: str = "") -> str:
    out = []
    for heading, paragraph in sections:
        anchor = (slug + heading).lower().replace(" ", "-")
        link = headerlink.format(anchor=anchor, heading=heading)
        out.append(
            f'<section id="{anchor}"><h2 id="h-{anchor}">{heading}{link}</h2>\n<p>{paragraph}</p></section>'
        )
    return "\n".join(out)


def _sidebar_links() -> str:
    return "".join(
        f'<li class="toctree-l1"><a class="reference internal" href="#">{s}</a></li>' for s in SIDEBAR
    )


def sphinx(title: str, sections: list[tuple[str, str]]) -> str:
    """Sphinx with the Read the Docs theme: sidebar, breadcrumbs, `¶` headerlinks, footer."""
    headerlink = '<a class="headerlink" href="#{anchor}" title="Link to this heading">¶</a>'
    return f"""<!DOCTYPE html>
<html class="writer-html5" lang="en"><head><meta charset="utf-8" />
<title>{title} &mdash; Acme Platform 3.0 documentation</title>
<script>var DOCUMENTATION_OPTIONS = {{VERSION: '3.0'}};</script>
<link rel="stylesheet" href="_static/css/theme.css" /></head>
<body class="wy-body-for-nav"><div class="wy-grid-for-nav">
<nav data-toggle="wy-nav-shift" class="wy-nav-side"><div class="wy-side-scroll">
<div class="wy-side-nav-search"><a href="index.html" class="icon icon-home">Acme Platform</a>
<div role="search"><form id="rtd-search-form" class="wy-form" action="search.html" method="get">
<input type="text" name="q" placeholder="{CHROME[5]}" /></form></div></div>
<div class="wy-menu wy-menu-vertical" role="navigation" aria-label="Navigation menu">
<p class="caption"><span class="caption-text">Contents</span></p><ul>{_sidebar_links()}</ul></div></div></nav>
<section data-toggle="wy-nav-shift" class="wy-nav-content-wrap">
<div class="wy-nav-content"><div class="rst-content">
<div role="navigation" aria-label="Page navigation"><ul class="wy-breadcrumbs">
<li><a href="index.html">Docs</a> &raquo;</li><li>{title}</li>
<li class="wy-breadcrumbs-aside"><a href="https://github.com/acme/x/blob/main/docs/p.rst">{CHROME[1]}</a></li>
</ul><hr/></div>
<div role="main" class="document" itemscope="itemscope"><div itemprop="articleBody">
<section id="top"><h1>{title}{headerlink.format(anchor="top", heading=title)}</h1>
{_sections(sections, headerlink)}
</section></div></div>
<footer><div class="rst-footer-buttons" role="navigation" aria-label="Footer">
<a href="prev.html" class="btn btn-neutral float-left" rel="prev">{CHROME[7]}</a>
<a href="next.html" class="btn btn-neutral float-right" rel="next">{CHROME[8]}</a></div><hr/>
<div role="contentinfo"><p>&#169; {CHROME[3]}.</p></div>{CHROME[4]}.</footer>
</div></div></section></div></body></html>"""


def mkdocs_material(title: str, sections: list[tuple[str, str]]) -> str:
    """MkDocs Material: header with search, primary nav, table of contents, footer; `¶` permalinks."""
    headerlink = '<a class="headerlink" href="#{anchor}" title="Permanent link">¶</a>'
    toc = "".join(
        f'<li class="md-nav__item"><a href="#" class="md-nav__link">{h}</a></li>' for h, _ in sections
    )
    nav = "".join(f'<li class="md-nav__item"><a href="#" class="md-nav__link">{s}</a></li>' for s in SIDEBAR)
    return f"""<!doctype html><html lang="en" class="no-js"><head><meta charset="utf-8">
<title>{title} - Acme Platform</title><link rel="stylesheet" href="assets/stylesheets/main.css"></head>
<body dir="ltr"><input class="md-toggle" data-md-toggle="drawer" type="checkbox" id="__drawer">
<a href="#intro" class="md-skip">{CHROME[0]}</a>
<div data-md-component="announce"><aside class="md-banner"><div class="md-banner__inner">New release!</div></aside></div>
<header class="md-header" data-md-component="header"><nav class="md-header__inner md-grid" aria-label="Header">
<div class="md-header__title"><span class="md-ellipsis">Acme Platform</span></div>
<div class="md-search" data-md-component="search" role="dialog"><form class="md-search__form" name="search">
<input type="text" class="md-search__input" name="query" aria-label="Search" placeholder="{CHROME[5]}"></form></div>
</nav></header>
<div class="md-container" data-md-component="container"><main class="md-main" data-md-component="main">
<div class="md-main__inner md-grid">
<div class="md-sidebar md-sidebar--primary" data-md-component="sidebar" data-md-type="navigation">
<div class="md-sidebar__scrollwrap"><div class="md-sidebar__inner"><nav class="md-nav md-nav--primary" aria-label="Navigation">
<ul class="md-nav__list">{nav}</ul></nav></div></div></div>
<div class="md-sidebar md-sidebar--secondary" data-md-component="sidebar" data-md-type="toc">
<div class="md-sidebar__scrollwrap"><div class="md-sidebar__inner"><nav class="md-nav md-nav--secondary" aria-label="{CHROME[6]}">
<label class="md-nav__title" for="__toc">{CHROME[6]}</label><ul class="md-nav__list">{toc}</ul></nav></div></div></div>
<div class="md-content" data-md-component="content"><article class="md-content__inner md-typeset">
<a href="https://github.com/acme/x/edit/main/docs/p.md" title="Edit this page" class="md-content__button md-icon">{CHROME[1]}</a>
<h1 id="intro">{title}</h1>
{_sections(sections, headerlink)}
</article></div></div></main>
<footer class="md-footer"><nav class="md-footer__inner md-grid" aria-label="Footer">
<a href="prev/" class="md-footer__link md-footer__link--prev" rel="prev">{CHROME[7]}</a>
<a href="next/" class="md-footer__link md-footer__link--next" rel="next">{CHROME[8]}</a></nav>
<div class="md-footer-meta md-typeset"><div class="md-copyright">{CHROME[3]}<br>{CHROME[4]}</div></div></footer>
</div></body></html>"""


def docusaurus(title: str, sections: list[tuple[str, str]]) -> str:
    """Docusaurus: navbar, doc sidebar, breadcrumbs, hash links, pagination, TOC, footer; hidden text."""
    headerlink = '<a href="#{anchor}" class="hash-link" aria-label="Direct link to {heading}" title="Direct link to {heading}">\u200b</a>'
    menu = "".join(
        f'<li class="theme-doc-sidebar-item-link menu__list-item"><a class="menu__link" href="#">{s}</a></li>'
        for s in SIDEBAR
    )
    return f"""<!doctype html><html lang="en" dir="ltr" class="docs-wrapper plugin-docs"><head>
<meta charset="UTF-8"><title data-rh="true">{title} | Acme Platform</title></head>
<body class="navigation-with-keyboard"><div role="region" aria-label="{CHROME[0]}">
<a class="skipToContent_fXgn" href="#__docusaurus_skipToContent_fallback">{CHROME[0]}</a></div>
<div id="__docusaurus"><nav aria-label="Main" class="navbar navbar--fixed-top"><div class="navbar__inner">
<a class="navbar__brand" href="/"><b class="navbar__title text--truncate">Acme Platform</b></a>
<div class="navbar__search"><input placeholder="{CHROME[5]}" aria-label="Search"></div></div></nav>
<div style="display: none" class="announcement">{HIDDEN[0]}</div>
<div id="__docusaurus_skipToContent_fallback" class="main-wrapper mainWrapper_z2l0"><div class="docsWrapper_hBAB">
<div class="docRoot_UBD9"><aside class="theme-doc-sidebar-container docSidebarContainer_YfHR">
<div class="sidebarViewport_aRkj"><nav aria-label="Docs sidebar" class="menu thin-scrollbar menu_SIkG">
<ul class="theme-doc-sidebar-menu menu__list">{menu}</ul></nav></div></aside>
<main class="docMainContainer_TBSr"><div class="container padding-top--md padding-bottom--lg"><div class="row">
<div class="col docItemCol_VOVn"><div class="docItemContainer_Djhp"><article>
<nav class="theme-doc-breadcrumbs breadcrumbsContainer_Z_bl" aria-label="Breadcrumbs"><ul class="breadcrumbs">
<li class="breadcrumbs__item"><a class="breadcrumbs__link" href="/">Home page</a></li></ul></nav>
<div class="theme-doc-markdown markdown"><header><h1>{title}</h1></header>
<span hidden>{HIDDEN[1]}</span>
{_sections(sections, headerlink)}
</div><footer class="theme-doc-footer docusaurus-mt-lg"><div class="row margin-top--sm theme-doc-footer-edit-meta-row">
<a href="https://github.com/acme/x/edit/main/docs/p.md" class="theme-edit-this-page">{CHROME[1]}</a></div></footer>
</article><nav class="pagination-nav docusaurus-mt-lg" aria-label="Docs pages">
<a class="pagination-nav__link pagination-nav__link--prev" href="/prev"><div class="pagination-nav__label">{CHROME[7]}</div></a>
<a class="pagination-nav__link pagination-nav__link--next" href="/next"><div class="pagination-nav__label">{CHROME[8]}</div></a></nav>
</div></div><div class="col col--3"><div class="tableOfContents_bqdL thin-scrollbar theme-doc-toc-desktop">
<ul class="table-of-contents table-of-contents__left-border">{"".join(f'<li><a href="#" class="table-of-contents__link toc-highlight">{h}</a></li>' for h, _ in sections)}</ul>
</div></div></div></div></main></div></div></div>
<footer class="footer footer--dark"><div class="container container-fluid"><div class="footer__bottom text--center">
<div class="footer__copyright">{CHROME[3]}. {CHROME[4]}.</div></div></div></footer></div></body></html>"""


def help_center(title: str, sections: list[tuple[str, str]]) -> str:
    """A help-center article (Zendesk-like): header, breadcrumbs, article sidebar, vote box, footer."""
    related = "".join(f'<li><a href="#" class="sidenav-item">{s}</a></li>' for s in SIDEBAR)
    body = "".join(f"<h2>{h}</h2><p>{p}</p>" for h, p in sections)
    return f"""<!DOCTYPE html><html dir="ltr" lang="en-US"><head><meta charset="utf-8" />
<title>{title} &ndash; Acme Help Center</title></head><body>
<a class="skip-navigation" tabindex="1" href="#main-content">{CHROME[0]}</a>
<header class="header"><div class="logo"><a title="Home" href="/hc/en-us">Acme Help Center</a></div>
<div class="nav-wrapper-desktop"><nav class="user-nav" id="user-nav" aria-label="Top navigation menu">
<ul class="user-nav-list"><li><a href="/hc/requests/new">{CHROME[9]}</a></li></ul></nav></div></header>
<main role="main"><div class="container-divider"></div><div class="container">
<div class="sub-nav"><ol class="breadcrumbs"><li title="Acme Help Center"><a href="/hc">Acme Help Center</a></li></ol>
<div class="search-container"><form role="search" class="search" action="/hc/search"><input type="search" name="query" placeholder="{CHROME[5]}"></form></div></div>
<div class="article-container" id="article-container">
<aside class="article-sidebar" aria-labelledby="section-articles-title"><div class="collapsible-sidebar">
<h3 id="section-articles-title" class="collapsible-sidebar-title sidenav-title">Articles in this section</h3>
<ul>{related}</ul></div></aside>
<article id="main-content" class="article"><header class="article-header"><h1 title="{title}" class="article-title">{title}</h1>
<div class="article-meta">Updated <time datetime="2026-05-01T10:00:00Z">May 1, 2026</time></div></header>
<section class="article-info"><div class="article-content"><div class="article-body">{body}
<p style="visibility:hidden;display:none">{HIDDEN[2]}</p></div></div></section>
<footer><div class="article-footer"><div class="article-votes"><h2 class="article-votes-question">{CHROME[2]}</h2>
<div class="article-votes-controls" role="radiogroup"><button type="button" class="button article-vote">Yes</button></div></div></div></footer>
</article></div></div></main>
<footer class="footer"><div class="footer-inner"><a title="Home" href="/hc">Acme Help Center</a> {CHROME[3]}</div></footer>
</body></html>"""


def aspnet_form(title: str, sections: list[tuple[str, str]]) -> str:
    """An ASP.NET Web Forms help page: the whole page, content included, sits inside one `<form>`."""
    body = "".join(f"<h2>{h}</h2><p>{p}</p>" for h, p in sections)
    menu = "".join(f'<li><a href="#">{s}</a></li>' for s in SIDEBAR)
    return f"""<html><head><title>{title} | Acme Support</title></head><body>
<form method="post" action="./article.aspx?id=12" id="aspnetForm">
<div class="aspNetHidden"><input type="hidden" name="__VIEWSTATE" id="__VIEWSTATE" value="/wEPDwUKMTY1NDU2MTA1Mg9kFgJmD2QWAgIDD2QWAgIBD2QWAg==" /></div>
<div id="header"><div id="topnav"><ul>{menu}</ul></div></div>
<div id="content"><h1>{title}</h1>{body}</div>
<div id="footer">{CHROME[3]}</div></form></body></html>"""


def unclosed_nav(title: str, sections: list[tuple[str, str]]) -> str:
    """A hand-written page: `<nav>` never closed, unclosed `<p>` and `<li>`, stray end tags, no `<body>`."""
    body = "".join(f"<h2>{h}</h2><p>{p}\n" for h, p in sections)
    menu = "".join(f"<li><a href=#>{s}</a>" for s in SIDEBAR)
    return f"""<html><head><title>{title}</title>
<nav class=menu><ul>{menu}</ul>
<div class=page><h1>{title}</h1>{body}</span></b></div>
<div class=foot>{CHROME[3]}</div></html>"""


TEMPLATES = {
    "sphinx": sphinx,
    "mkdocs": mkdocs_material,
    "docusaurus": docusaurus,
    "help_center": help_center,
    "aspnet_form": aspnet_form,
    "unclosed_nav": unclosed_nav,
}


def pages() -> list[Page]:
    """Every topic through every template: 6 generators x 8 topics = 48 pages."""
    out = []
    for generator, template in TEMPLATES.items():
        for title, sections in TOPICS:
            slug = title.lower().replace(" ", "_")
            content = [title] + [h for h, _ in sections] + [p for _, p in sections]
            out.append(
                Page(
                    f"{generator}/{slug}.html", template(title, sections), content, SIDEBAR + CHROME + HIDDEN
                )
            )
    return out


def measure(folder: Path, extract_text: Callable[[Path, str], str] | None = None) -> dict:
    """Extract and chunk every page (written under `folder`); count navigation chunks and lost content.

    Args:
        folder: Where the pages are written.
        extract_text: Another extractor to measure (a baseline); the project's `extract` by default.

    Returns:
        pages, chunks, navigation_chunks, navigation_share, content_paragraphs, content_lost,
        permalink_signs, and up to 10 `examples` of what went wrong (page and string).
    """
    options = ChunkingOptions()
    totals = {"pages": 0, "chunks": 0, "navigation_chunks": 0, "content_paragraphs": 0, "content_lost": 0}
    permalink_signs, examples = 0, []
    for page in pages():
        path = folder / page.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page.html, encoding="utf-8")
        try:
            label = f"documents/{page.name}"
            text = extract_text(path, label) if extract_text else extract(path, label).text
        except DocumentRejected:  # "empty": the whole page lost
            text = ""
        flat = " ".join(text.replace("*", "").replace("`", "").split())
        chunks = chunk_document(text, options)
        totals["pages"] += 1
        totals["chunks"] += len(chunks)
        permalink_signs += text.count("¶")
        for chunk in chunks:
            leaked = [s for s in page.navigation if s in chunk.text]
            totals["navigation_chunks"] += bool(leaked)
            examples += [f"{page.name}: navigation {s!r}" for s in leaked]
        for paragraph in page.content:
            totals["content_paragraphs"] += 1
            if paragraph not in flat:
                totals["content_lost"] += 1
                examples.append(f"{page.name}: lost {paragraph!r}")
    share = totals["navigation_chunks"] / max(totals["chunks"], 1)
    return totals | {
        "navigation_share": round(share, 4),
        "permalink_signs": permalink_signs,
        "examples": examples[:10],
    }
