"""The configured landing zone and quarantine area: a local folder, or an S3 bucket and prefix.

Apart from `store.py` (the types every store shares) so that the stores import it and it imports
the stores, never the other way round; `s3.py` is imported only when S3 is configured (boto3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlparse

from dagster_project.settings import Settings, SettingsError

if TYPE_CHECKING:
    from dagster_project.landing.local import LocalLanding, LocalQuarantine
    from dagster_project.landing.s3 import S3Landing, S3Quarantine


def _open(uri: str, variable: str, local_name: str, s3_name: str, settings: Settings):  # noqa: ANN202
    scheme = urlparse(uri).scheme
    if scheme in ("", "file"):
        from dagster_project.landing import local

        return getattr(local, local_name)(uri)
    if scheme in ("s3", "s3a"):
        from dagster_project.landing import s3  # boto3 only when S3 is configured

        return getattr(s3, s3_name)(uri, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region)
    raise SettingsError(f"{variable}={uri}: scheme {scheme!r} is not supported; use file:// or s3://")


def open_landing(settings: Settings) -> LocalLanding | S3Landing:
    """The configured landing zone: a local folder, or an S3 bucket and prefix."""
    return _open(settings.landing_uri, "FOUNDATION_LANDING_URI", "LocalLanding", "S3Landing", settings)


def open_quarantine(settings: Settings) -> LocalQuarantine | S3Quarantine:
    """The configured quarantine area: a local folder, or an S3 bucket and prefix."""
    return _open(
        settings.quarantine_uri, "FOUNDATION_QUARANTINE_URI", "LocalQuarantine", "S3Quarantine", settings
    )
