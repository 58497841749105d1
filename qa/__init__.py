"""interview-qa: ask questions of Chinese documents and get short answers citing the source paragraphs."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from .config import Settings
from .types import Answer, Article, Citation, Passage

__all__ = ["Answer", "Article", "Citation", "Passage", "Settings", "ask", "ask_stream", "build_index",
           "default_engine", "retrieve"]

_default = None
_default_lock = threading.Lock()


def default_engine():
    """The one engine shared by qa.ask and friends, built from QA_* settings on first use."""
    global _default
    with _default_lock:
        if _default is None:
            from .engine import Engine

            _default = Engine(Settings.from_env())
        return _default


def ask(question: str, *, k: int = 5, filters: dict | None = None, history: list | None = None) -> Answer:
    return default_engine().ask(question, k=k, filters=filters, history=history)


def ask_stream(question: str, *, k: int = 5, filters: dict | None = None,
               history: list | None = None) -> Iterator[Answer]:
    return default_engine().ask_stream(question, k=k, filters=filters, history=history)


def retrieve(question: str, *, k: int = 5, filters: dict | None = None) -> list[Passage]:
    return default_engine().retrieve(question, k=k, filters=filters)


def build_index(data_dir: str | Path | None = None, rebuild: bool = False):
    return default_engine().build_index(data_dir, rebuild)
