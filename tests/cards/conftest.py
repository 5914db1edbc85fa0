"""A small platform built through curated, for the card tests that publish again or regenerate cards."""

from __future__ import annotations

import pytest

from tests.conftest import small_platform


@pytest.fixture
def platform(tmp_path):
    """Customers, products and orders ingested and built through curated, on a small scale."""
    return small_platform(tmp_path)
