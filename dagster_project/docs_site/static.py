"""Static files of the Data Docs pages (Bootstrap, jQuery, Font Awesome, GX's images), from Python packages.

Great Expectations' page templates load these from CDNs; ours (quality/data_docs_templates) load them
from the docs server, which serves them straight from the installed XStatic packages, so Data Docs
render styled with no internet.
"""

from __future__ import annotations

from pathlib import Path

STATIC_PREFIX = "static"


def static_dirs() -> dict[str, Path]:
    """Name under /static/ → the installed package folder served there."""
    import great_expectations
    import xstatic.pkg.bootstrap
    import xstatic.pkg.font_awesome
    import xstatic.pkg.jquery

    return {
        "bootstrap": Path(xstatic.pkg.bootstrap.BASE_DIR),
        "jquery": Path(xstatic.pkg.jquery.BASE_DIR),
        "font-awesome": Path(xstatic.pkg.font_awesome.BASE_DIR),
        "gx": Path(great_expectations.__file__).parent / "render" / "view" / "static",
    }
