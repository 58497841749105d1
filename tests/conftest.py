"""Shared fixtures: one real index of the shipped corpus for the whole session, and small corpora."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

os.environ["ANONYMIZED_TELEMETRY"] = "False"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_DATA = ROOT / "data"
OUTPUT = ROOT / "test-output"


@pytest.fixture(scope="session")
def built_index(tmp_path_factory):
    """The shipped corpus indexed with the default embedding model; QA_DATA_DIR/QA_INDEX_DIR point at it
    for this process and for any app or CLI a test starts."""
    import qa
    from qa.config import Settings
    from qa.engine import Engine

    index_dir = tmp_path_factory.mktemp("index")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QA_DATA_DIR", str(SHIPPED_DATA))
        patch.setenv("QA_INDEX_DIR", str(index_dir))
        for name in ("QA_EMBED_MODEL", "QA_CHROMA_HOST", "QA_CHROMA_PORT", "QA_LLM_BASE_URL"):
            patch.delenv(name, raising=False)
        engine = Engine(Settings.from_env())
        engine.build_index(show_bar=False)
        patch.setattr(qa, "_default", engine)
        yield engine


@pytest.fixture
def engine(built_index):
    return built_index


@pytest.fixture
def small_corpus(tmp_path) -> Path:
    """A copy of the shipped page plus a short second file, in a folder the test may change."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(SHIPPED_DATA / "hohhot-2024-district-interviews.txt", data)
    (data / "notes.md").write_text("# 会议纪要\n\n赛罕区计划新建3个社区食堂，年内投入使用。\n", encoding="utf-8")
    return data


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT
