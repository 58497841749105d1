"""Shared fixtures: one real index of the shipped corpus for the whole session, and small corpora."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
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


def engine_over(tmp_path_factory, name: str, documents: dict[str, str]):
    """An engine over `documents` (file name → text) written for a test, indexed with the default model."""
    from qa.config import Settings
    from qa.engine import Engine

    data = tmp_path_factory.mktemp(name)
    for file_name, text in documents.items():
        (data / file_name).write_text(text, encoding="utf-8")
    engine = Engine(Settings(data_dir=data, index_dir=tmp_path_factory.mktemp(f"{name}-index")))
    engine.build_index(show_bar=False)
    return engine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


STARTUP_SECONDS = 300  # a cold start loads the embedding model; a slow CI machine needs the margin


@contextmanager
def serving_app(log_path: Path, *arguments: str, environment: dict[str, str] | None = None,
            key: str = "") -> Iterator[str]:
    """`python app.py` on a free port; yields its URL once /v1/models answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "NO_PROXY": "127.0.0.1,localhost",
           **(environment or {})}
    if key:
        env["QA_API_KEY"] = key
    else:
        env.pop("QA_API_KEY", None)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), *arguments],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while True:
                if process.poll() is not None:
                    pytest.fail(f"app.py exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
                try:
                    if httpx.get(f"{url}/v1/models", headers=headers, timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"app.py did not serve within {STARTUP_SECONDS} s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
