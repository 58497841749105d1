"""Where chunk vectors live, chosen by name (a Chroma folder, a Chroma server): one interface for builds and queries."""

from __future__ import annotations

import contextlib
import math
import os
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import chromadb
import numpy as np

if TYPE_CHECKING:
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores.types import BasePydanticVectorStore

from .config import Settings

REBUILD_HINT = "rebuild it with: qa index --rebuild"
COLLECTION_NAME = re.compile(r"qa-[0-9a-f]{12}")
LOOKUP_BATCH = 1000  # ids a get asks for at once
# Chroma shares one system among the clients of a folder (or server) in a process and stops it when the last
# one closes; making a client is not atomic with that (it finds the system, then counts itself), so a client
# closed in one thread while another is made for the same folder left the new one without a system
# (a KeyError, or a stopped system: "'RustBindingsAPI' object has no attribute 'bindings'"). One at a time.
_CLIENTS = threading.Lock()


def _close_client(client) -> None:
    with _CLIENTS, contextlib.suppress(Exception):
        client.close()


class IndexUnavailable(RuntimeError):
    """The index is missing, damaged, foreign, or its Chroma server cannot be reached.

    `public` is the message for a client of the page or API; `where` (a server path or address) is kept
    for the command line and the log only."""

    def __init__(self, public: str, where: str = ""):
        super().__init__(public)
        self.public = public
        self.where = where

    def __str__(self) -> str:
        return f"{self.public} [{self.where}]" if self.where else self.public


def _is_fatal(error: BaseException) -> bool:
    """Errors a guard must let through: the user's Ctrl-C and the interpreter's own exits."""
    return isinstance(error, (KeyboardInterrupt, SystemExit, GeneratorExit))


@contextlib.contextmanager
def native_errors(public: str, where: str = "") -> Iterator[None]:
    """Chroma's native core can raise a Rust panic (a BaseException that escapes `except Exception`) for a
    damaged file: any failure inside becomes IndexUnavailable with a message that says what to do."""
    try:
        yield
    except IndexUnavailable:
        raise
    except BaseException as error:
        if _is_fatal(error):
            raise
        detail = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise IndexUnavailable(public, f"{where}: {detail}" if where else detail) from None


class VectorCollection:
    """One open collection of chunk vectors, with each chunk's paragraph and article ids as metadata."""

    def __init__(self, client, collection, where: str):
        self.client = client
        self.collection = collection
        self.where = where
        self._query_store: BasePydanticVectorStore | None = None

    @property
    def query_store(self) -> BasePydanticVectorStore:
        """The llama-index view of the same collection, for queries with metadata filters; made when first
        asked for, since importing llama-index takes a second that no question needs."""
        if self._query_store is None:
            from llama_index.vector_stores.chroma import ChromaVectorStore

            self._query_store = ChromaVectorStore(chroma_collection=self.collection)
        return self._query_store

    @property
    def name(self) -> str:
        return self.collection.name

    def metadata(self, ids: list[str] | None = None) -> dict[str, dict]:
        """Every stored chunk id with its metadata, or those of `ids` that are stored."""
        if ids is not None and not ids:
            return {}
        found: dict[str, dict] = {}
        with native_errors(f"the vector store could not be read; {REBUILD_HINT}", self.where):
            for start in range(0, len(ids), LOOKUP_BATCH) if ids is not None else [0]:
                part = None if ids is None else ids[start : start + LOOKUP_BATCH]
                stored = self.collection.get(ids=part, include=["metadatas"])
                found.update({i: m or {} for i, m in zip(stored["ids"], stored["metadatas"], strict=True)})
        return found

    def search(self, query_embedding, top_k: int, ids: list[str] | None = None) -> list[tuple[str, float]]:
        """The `top_k` nearest chunks (among `ids`, if given), best first, with llama-index's similarity
        (exp(-cosine distance)), asking Chroma for ids and distances only."""
        if ids is not None and not ids:
            return []
        with native_errors("the vector store could not be searched; if this persists, " + REBUILD_HINT, self.where):
            found = self.collection.query(query_embeddings=[list(map(float, query_embedding))], n_results=top_k,
                                          ids=ids, include=["distances"])
        return [(chunk_id, math.exp(-distance))
                for chunk_id, distance in zip(found["ids"][0], found["distances"][0], strict=True)]

    def vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        """The stored vectors of those of `ids` that are stored (float32)."""
        found: dict[str, np.ndarray] = {}
        with native_errors(f"the vector store could not be read; {REBUILD_HINT}", self.where):
            for start in range(0, len(ids), LOOKUP_BATCH):
                stored = self.collection.get(ids=ids[start : start + LOOKUP_BATCH], include=["embeddings"])
                vectors = np.asarray(stored["embeddings"], dtype=np.float32)
                found.update(zip(stored["ids"], vectors, strict=True))
        return found

    def ids(self) -> list[str]:
        with native_errors(f"the vector store could not be read; {REBUILD_HINT}", self.where):
            return list(self.collection.get(include=[])["ids"])

    def count(self) -> int:
        with native_errors(f"the vector store could not be read; {REBUILD_HINT}", self.where):
            return self.collection.count()

    def add(self, nodes: Sequence[TextNode]) -> None:
        """Store nodes that carry their embedding (their text is not stored, see add_vectors)."""
        self.add_vectors([n.node_id for n in nodes], np.asarray([n.embedding for n in nodes], dtype=np.float32),
                         [dict(n.metadata) for n in nodes])

    def add_vectors(self, ids: list[str], vectors: np.ndarray, metadatas: list[dict]) -> None:
        """Store vectors under their chunk ids with their metadata (a build adds only ids not stored yet). The
        text stays in the paragraph table: Chroma indexes a stored document for full-text search, which made
        a write three times slower (30,000 chunks: 82 s against 30 s), and llama-index serialised every node
        into its metadata besides. A llama-index query still gets each node's id, metadata and similarity."""
        with native_errors(f"the vector store could not be written; {REBUILD_HINT}", self.where):
            self.collection.add(ids=list(ids), embeddings=np.asarray(vectors, dtype=np.float32),
                                   metadatas=list(metadatas))

    def update_metadata(self, ids: list[str], metadatas: list[dict]) -> None:
        with native_errors(f"the vector store could not be updated; {REBUILD_HINT}", self.where):
            self.collection.update(ids=ids, metadatas=metadatas)

    def delete(self, ids: list[str]) -> None:
        with native_errors(f"the vector store could not be cleaned; {REBUILD_HINT}", self.where):
            self.collection.delete(ids=ids)

    def close(self) -> None:
        """Release the client, so that the next open reads what another process wrote."""
        _close_client(self.client)


class VectorStoreBackend:
    """A kind of vector store: opens, creates and drops collections. `location` goes into the manifest, so
    that a build into another store is a full one; `uses_folder` says whether a collection lives in a
    folder of the index (which the index creates, names and removes)."""

    name: ClassVar[str]
    uses_folder: ClassVar[bool]

    def __init__(self, settings: Settings):
        self.settings = settings

    @property
    def location(self) -> str:
        raise NotImplementedError

    def _client(self, folder: Path | None):
        raise NotImplementedError

    def _where(self, folder: Path | None) -> str:
        return str(folder) if folder is not None else self.location

    def open(self, collection: str, folder: Path | None = None, create: bool = False) -> VectorCollection:
        """The named collection (made if `create`); IndexUnavailable when it is missing or unreadable."""
        if not isinstance(collection, str) or not COLLECTION_NAME.fullmatch(collection):
            raise IndexUnavailable(f"the index manifest names no collection of ours; {REBUILD_HINT}",
                                   repr(collection))
        client = self._client(folder)
        where = f"{self._where(folder)} {collection}"
        try:
            with native_errors(f"the vector collection is missing or unreadable; {REBUILD_HINT}", where):
                if create:
                    # Chroma replays the vectors its HNSW file lacks at the first use after an open (up to its
                    # default 1,000: 2-4 s of every update); syncing every 100 makes that a few ms (8,000 vectors:
                    # 0.03 s against 2.3 s) and did not slow a build.
                    found = client.get_or_create_collection(
                        collection, metadata={"hnsw:space": "cosine", "hnsw:sync_threshold": 100})
                else:
                    found = client.get_collection(collection)
        except BaseException:
            _close_client(client)
            raise
        return VectorCollection(client, found, where)

    def drop(self, collection: str, folder: Path | None = None) -> None:
        """Delete a collection and its vectors; one that is not there is no error."""
        if not COLLECTION_NAME.fullmatch(str(collection)):
            return
        client = self._client(folder)
        try:
            with contextlib.suppress(Exception):  # already gone
                client.delete_collection(collection)
        finally:
            _close_client(client)


class ChromaFile(VectorStoreBackend):
    """Chroma in a folder of the index: nothing to run beside the service."""

    name = "chroma-file"
    uses_folder = True

    @property
    def location(self) -> str:
        return "file"

    def _client(self, folder: Path | None):
        if folder is None:
            raise IndexUnavailable(f"the index manifest names no vector folder; {REBUILD_HINT}")
        read_only = _read_only(folder)
        if read_only is not None:  # Chroma writes even to read: it would fail, and be taken for damage
            raise IndexUnavailable("the index folder is read-only; interview-qa writes to it even to answer: "
                                   "make it writable, or set QA_INDEX_DIR to a writable copy", str(read_only))
        with _CLIENTS, native_errors(f"the vector store is damaged; {REBUILD_HINT}", str(folder)):
            return chromadb.PersistentClient(path=str(folder), settings=chromadb.Settings(anonymized_telemetry=False))


def _read_only(folder: Path) -> Path | None:
    """The first of the Chroma folder, its database and the index folder this process may not write, if any."""
    for path in (folder.parent, folder, folder / "chroma.sqlite3"):
        if path.exists() and not os.access(path, os.W_OK):
            return path
    return None


class ChromaServer(VectorStoreBackend):
    """A Chroma server (QA_CHROMA_HOST/QA_CHROMA_PORT), asked with a deadline."""

    name = "chroma-server"
    uses_folder = False

    @property
    def address(self) -> tuple[str, int]:
        return self.settings.chroma_host or "127.0.0.1", self.settings.chroma_port or 8000

    @property
    def location(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def _where(self, folder: Path | None) -> str:
        host, port = self.address
        return f"{host}:{port}"

    def _client(self, folder: Path | None):
        import httpx

        host, port = self.address
        where = f"{host}:{port}"
        timeout = self.settings.chroma_timeout
        down = (f"the Chroma server is not reachable; start it with `chroma run --path DIR --host {host} --port "
                f"{port}` or unset QA_CHROMA_HOST/QA_CHROMA_PORT")
        # chromadb's own HTTP client waits forever: ask the heartbeat first, with a deadline, so that a
        # frozen server gives the same clear message as a dead one.
        try:
            reply = httpx.get(f"http://{host}:{port}/api/v2/heartbeat", timeout=timeout)
            beat = reply.json() if reply.status_code == 200 else {}
        except httpx.TimeoutException:
            raise IndexUnavailable(f"the Chroma server did not answer within {timeout:g} s (QA_CHROMA_TIMEOUT)",
                                   where) from None
        except (httpx.HTTPError, ValueError) as error:
            raise IndexUnavailable(down, f"{where}: {type(error).__name__}") from None
        if not isinstance(beat, dict) or "nanosecond heartbeat" not in beat:
            raise IndexUnavailable("the address set by QA_CHROMA_HOST/QA_CHROMA_PORT answers, but it is not a "
                                   "Chroma server", where)
        with _CLIENTS, native_errors(down, where):
            client = chromadb.HttpClient(host=host, port=port, settings=chromadb.Settings(anonymized_telemetry=False))
            client._server._session.timeout = httpx.Timeout(timeout)
            return client


VECTOR_STORES: dict[str, type[VectorStoreBackend]] = {backend.name: backend for backend in (ChromaFile, ChromaServer)}


def vector_store_name(settings: Settings) -> str:
    """The configured kind: a Chroma server when its address is set, else a folder of the index."""
    return ChromaServer.name if settings.uses_chroma_server else ChromaFile.name


def make_vector_store(settings: Settings, name: str | None = None) -> VectorStoreBackend:
    """The vector store backend of this name (default: the one the settings configure)."""
    name = name or vector_store_name(settings)
    try:
        return VECTOR_STORES[name](settings)
    except KeyError:
        raise ValueError(f"unknown vector store {name!r}: use one of {', '.join(VECTOR_STORES)}") from None
