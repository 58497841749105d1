"""The index on disk: Chroma vectors (file or server), a BM25 keyword index, the paragraph table and a
manifest. Builds are incremental, atomic (the manifest switches over only when a build is complete), one at a
time (an inter-process lock), and never remove a file this program did not write."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import bm25s
import chromadb
import numpy as np
from filelock import FileLock, Timeout
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)
from llama_index.vector_stores.chroma import ChromaVectorStore
from tqdm import tqdm

from .config import Settings
from .corpus import (
    SUPPORTED_SUFFIXES,
    Chunk,
    chunk_paragraph,
    context_line,
    format_summary,
    keyword_context,
    load_corpus,
)
from .embeddings import make_embedding
from .names import NAMES_FILE, NameIndex
from .text import stable_id, tokens
from .types import Article, Paragraph

FORMAT_VERSION = 3
MANIFEST = "manifest.json"
# Written first into an index folder this program creates or adopts: a folder without it (or a manifest of
# ours) holds someone else's files, and a build stops before touching it.
MARKER = ".interview-qa-index"
# Written first into every sub-folder a build creates; clean-up removes only folders that hold it.
OWNED = ".interview-qa-owned"
LOCK = ".build.lock"
BUILDER_PID = ".build.pid"
# A full build in progress: the next build resumes it (chunk ids are content hashes) instead of starting over.
PENDING = ".pending-build.json"
TOKENS = "keyword-tokens.json"
_GENERATION = re.compile(r"gen-[0-9a-f]{12}")
_CHROMA_DIR = re.compile(r"chroma-[0-9a-f]{12}")
_COLLECTION = re.compile(r"qa-[0-9a-f]{12}")
STORE_BATCH = 1024
EMBED_BATCH = 16
REBUILD_HINT = "rebuild it with: qa index --rebuild"
FOREIGN_FOLDER = ("the index folder holds files that interview-qa did not write, so it is not used; set QA_INDEX_DIR "
                  "to an empty or new folder (nothing in this one was changed)")
Progress = Callable[[int, int, str], None]


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


class BuildBusy(RuntimeError):
    """Another process (or thread) is building this index right now."""

    def __init__(self, pid: str):
        who = f" (pid {pid})" if pid else ""
        super().__init__(f"another build of this index is running{who}; try again when it has finished")
        self.pid = pid


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


@dataclass
class BuildReport:
    articles: int = 0
    paragraphs: int = 0
    chunks: int = 0
    embedded: int = 0
    removed: int = 0
    full_rebuild: bool = False
    seconds: float = 0.0
    embed_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    formats: str = ""  # documents and paragraphs per format, and the files skipped

    def summary(self) -> str:
        kind = "full build" if self.full_rebuild else "update"
        totals = (f"{kind}: {self.articles} articles, {self.paragraphs} paragraphs, {self.chunks} chunks "
                  f"({self.embedded} embedded, {self.removed} removed) in {self.seconds:.1f} s")
        return f"{totals}\n{self.formats}" if self.formats else totals


@dataclass
class LoadedIndex:
    """Everything a query needs, loaded once: the paragraph table is the truth of what is indexed."""

    manifest: dict
    articles: dict[str, Article]
    paragraphs: dict[str, Paragraph]
    chunks: dict[str, Chunk]
    chunk_ids: list[str]  # BM25 document order
    bm25: bm25s.BM25
    vector_store: ChromaVectorStore
    client: object = None  # the Chroma client, closed when the index is replaced
    names: NameIndex | None = None  # people, places, organisations and titles, built with the index
    signature: tuple = ()  # the manifest file this was loaded from (see IndexStore.signature)

    def document_frequencies(self) -> dict[str, int]:
        """How many chunks hold each keyword token: read off the BM25 index's sparse columns."""
        indptr = np.asarray(self.bm25.scores["indptr"])
        return {
            token: int(indptr[i + 1] - indptr[i])
            for token, i in self.bm25.vocab_dict.items()
            if i + 1 < len(indptr)
        }

    def bm25_scores(self, query_tokens: list[str], allowed: np.ndarray | None = None) -> np.ndarray:
        if not query_tokens:
            return np.zeros(len(self.chunk_ids), dtype=np.float32)
        scores = self.bm25.get_scores(query_tokens)
        return scores if allowed is None else scores * allowed

    def dense(self, query_embedding: list[float], top_k: int, article_ids: list[str] | None = None):
        filters = None
        if article_ids:
            filters = MetadataFilters(
                filters=[MetadataFilter(key="article_id", value=article_ids, operator=FilterOperator.IN)]
            )
        with native_errors("the vector store could not be searched; if this persists, " + REBUILD_HINT):
            result = self.vector_store.query(
                VectorStoreQuery(query_embedding=query_embedding, similarity_top_k=top_k, filters=filters)
            )
        # Chunks left by an interrupted update are in Chroma but not in the table: ignore them.
        return [
            (chunk_id, float(score))
            for chunk_id, score in zip(result.ids or [], result.similarities or [], strict=False)
            if chunk_id in self.chunks
        ]

    def close(self) -> None:
        """Release the Chroma client, so that the next load reads what another process wrote."""
        with contextlib.suppress(Exception):
            self.client.close()


class IndexStore:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.root = Path(settings.index_dir)

    # --- reading -------------------------------------------------------------------------------
    def signature(self) -> tuple:
        """Identifies the manifest on disk: a build's switch-over (os.replace) always changes it."""
        try:
            info = (self.root / MANIFEST).stat()
        except OSError:
            return ()
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    def read_manifest(self) -> dict | None:
        """None when no index was built here; IndexUnavailable when what is here is not a usable index."""
        self._check_folder()
        path = self.root / MANIFEST
        if not path.exists():
            if self._is_foreign():
                raise IndexUnavailable(FOREIGN_FOLDER, str(self.root))
            return None
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise IndexUnavailable(f"the index manifest is unreadable; {REBUILD_HINT}", f"{path}: {error}") from None
        if not isinstance(manifest, dict) or "format" not in manifest or "collection" not in manifest:
            raise IndexUnavailable(f"the index manifest is not an interview-qa manifest; {REBUILD_HINT}", str(path))
        return manifest

    def exists(self) -> bool:
        return self.read_manifest() is not None

    def load(self) -> LoadedIndex:
        signature = self.signature()
        manifest = self.read_manifest()
        if manifest is None:
            raise IndexUnavailable("there is no index yet; build it with: qa index", str(self.root))
        if manifest["format"] != FORMAT_VERSION:
            raise IndexUnavailable(f"the index has an older format; {REBUILD_HINT}", str(self.root))
        generation = self._inside(manifest.get("generation"), _GENERATION)
        try:
            table = json.loads((generation / "corpus.json").read_text(encoding="utf-8"))
            articles = {a["id"]: Article(**a) for a in table["articles"]}
            paragraphs = {p["id"]: Paragraph(**p) for p in table["paragraphs"]}
            chunks = {c["id"]: Chunk(**c) for c in table["chunks"]}
            bm25 = bm25s.BM25.load(str(generation / "bm25"), show_progress=False)
            # An index written before the name index existed gets one built at its first question.
            names = NameIndex.load(generation) if (generation / NAMES_FILE).exists() else None
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise IndexUnavailable(f"the index is damaged; {REBUILD_HINT}", f"{generation}: {error}") from None
        client = self._client(manifest)
        collection = self._collection(client, manifest["collection"], create=False)
        return LoadedIndex(
            manifest=manifest,
            articles=articles,
            paragraphs=paragraphs,
            chunks=chunks,
            chunk_ids=[c["id"] for c in table["chunks"]],
            bm25=bm25,
            vector_store=ChromaVectorStore(chroma_collection=collection),
            client=client,
            signature=signature,
            names=names,
        )

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())

    # --- the folder: ours or not, inside or not --------------------------------------------------
    def _check_folder(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise IndexUnavailable("the index path is a file, not a folder; set QA_INDEX_DIR to a folder",
                                   str(self.root))

    def _is_foreign(self) -> bool:
        """A folder with visible files but neither our marker nor our manifest belongs to someone else."""
        if not self.root.is_dir() or (self.root / MARKER).exists() or (self.root / MANIFEST).exists():
            return False
        try:
            return any(not entry.name.startswith(".") for entry in self.root.iterdir())
        except OSError:
            return True

    def _claim(self) -> None:
        """Make the folder ours before writing anything in it, or stop: never build into someone's folder."""
        self._check_folder()
        if self._is_foreign():
            raise IndexUnavailable(FOREIGN_FOLDER, str(self.root))
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            marker = self.root / MARKER
            if not marker.exists():
                marker.write_text("This folder is an interview-qa index; `qa index --rebuild` rewrites it.\n",
                                  encoding="utf-8")
        except OSError as error:
            raise IndexUnavailable("cannot write to the index folder; check its permissions",
                                   f"{self.root}: {error.strerror or error}") from None

    def _inside(self, name, pattern: re.Pattern) -> Path:
        """A folder named in the manifest, checked to be one of ours and inside the index folder."""
        if not isinstance(name, str) or not pattern.fullmatch(name):
            raise IndexUnavailable(f"the index manifest names a folder that is not part of an index; {REBUILD_HINT}",
                                   f"{self.root / MANIFEST}: {name!r}")
        path = self.root / name
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise IndexUnavailable(f"the index manifest points outside the index folder; {REBUILD_HINT}",
                                   f"{self.root / MANIFEST}: {name!r}")
        return path

    def _owned_folder(self, prefix: str) -> str:
        """A new sub-folder, marked as ours before anything else is written into it."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        (self.root / name).mkdir()
        (self.root / name / OWNED).write_text("", encoding="utf-8")
        return name

    @contextlib.contextmanager
    def _build_lock(self, wait: float) -> Iterator[None]:
        """One builder at a time, across processes. The lock is an flock: the kernel releases it when its
        process dies, so a killed build never leaves a stale lock behind."""
        lock = FileLock(str(self.root / LOCK))
        try:
            lock.acquire(timeout=wait)
        except Timeout:
            try:
                pid = (self.root / BUILDER_PID).read_text(encoding="utf-8").strip()
            except OSError:
                pid = ""
            raise BuildBusy(pid) from None
        try:
            (self.root / BUILDER_PID).write_text(str(os.getpid()), encoding="utf-8")
            yield
        finally:
            lock.release()

    # --- Chroma --------------------------------------------------------------------------------
    def _server_address(self) -> tuple[str, int]:
        return self.settings.chroma_host or "127.0.0.1", self.settings.chroma_port or 8000

    def _client(self, manifest: dict | None = None, chroma_dir: str | None = None):
        settings = chromadb.Settings(anonymized_telemetry=False)
        if self.settings.uses_chroma_server:
            return self._server_client(settings)
        if chroma_dir is None:
            chroma_dir = (manifest or {}).get("chroma_dir")
        path = self._inside(chroma_dir, _CHROMA_DIR)
        with native_errors(f"the vector store is damaged; {REBUILD_HINT}", str(path)):
            return chromadb.PersistentClient(path=str(path), settings=settings)

    def _server_client(self, settings):
        import httpx

        host, port = self._server_address()
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
        with native_errors(down, where):
            client = chromadb.HttpClient(host=host, port=port, settings=settings)
            client._server._session.timeout = httpx.Timeout(timeout)
            return client

    def _collection(self, client, name: str, create: bool):
        if not isinstance(name, str) or not _COLLECTION.fullmatch(name):
            raise IndexUnavailable(f"the index manifest names no collection of ours; {REBUILD_HINT}", repr(name))
        where = f"{self._server_address()} " if self.settings.uses_chroma_server else ""
        with native_errors(f"the vector collection is missing or unreadable; {REBUILD_HINT}", f"{where}{name}"):
            if create:
                return client.get_or_create_collection(name, metadata={"hnsw:space": "cosine"})
            return client.get_collection(name)

    def _location(self) -> str:
        if self.settings.uses_chroma_server:
            host, port = self._server_address()
            return f"http://{host}:{port}"
        return "file"

    # --- building ------------------------------------------------------------------------------
    def build(self, data_dir: Path | None = None, rebuild: bool = False, progress: Progress | None = None,
              show_bar: bool = True, embed_model=None, wait: float = 0.0) -> BuildReport:
        """Build or update the index; `embed_model` reuses a loaded model of the configured name; `wait` is
        how long to wait for another builder before BuildBusy."""
        started = time.perf_counter()
        data_dir = Path(data_dir or self.settings.data_dir)
        if not data_dir.is_dir():
            raise FileNotFoundError(f"data folder {data_dir} does not exist")
        self._claim()
        with self._build_lock(wait):
            try:
                return self._build(data_dir, rebuild, progress, show_bar, embed_model, started)
            except OSError as error:  # a read-only or full disk: the old manifest was not replaced
                raise IndexUnavailable("the index could not be written (the previous index is unchanged); "
                                       "check the folder's permissions and free space",
                                       f"{self.root}: {error.strerror or error}") from None

    def _build(self, data_dir: Path, rebuild: bool, progress, show_bar, embed_model, started) -> BuildReport:
        documents, warnings = load_corpus(data_dir, max_paragraph_chars=self.settings.max_paragraph_chars,
                                          follow_symlinks=self.settings.follow_symlinks)
        if not documents:
            raise ValueError(
                f"no readable documents ({', '.join(SUPPORTED_SUFFIXES)}) in {data_dir}; the index was left as it was"
            )
        try:
            old = self.read_manifest()
        except IndexUnavailable:
            if not rebuild:
                raise
            old = None
        full = (
            rebuild
            or old is None
            or old.get("format") != FORMAT_VERSION
            or old.get("embed_model") != self.settings.embed_model
            or old.get("chroma") != self._location()
        )
        files = {d.source: d.sha256 for d in documents}
        articles = [a for d in documents for a in d.articles]
        paragraphs = [p for d in documents for p in d.paragraphs]
        report = BuildReport(len(articles), len(paragraphs), full_rebuild=full, warnings=warnings,
                             formats=format_summary(documents, warnings))
        if not full and old.get("files") == files:
            report.chunks = old.get("counts", {}).get("chunks", 0)
            report.seconds = time.perf_counter() - started
            return report

        by_article = {a.id: a for a in articles}
        chunks, embed_texts, keyword_texts = [], [], []
        for paragraph in paragraphs:
            article = by_article[paragraph.article_id]
            for part in chunk_paragraph(paragraph):
                embed_text = f"{context_line(article, paragraph)}\n{part.text}"
                # The id hashes what is embedded and nothing else: a renamed or moved file costs no
                # embedding, and the same text twice is one vector.
                chunks.append(Chunk(stable_id(embed_text), paragraph.id, part.text))
                embed_texts.append(embed_text)
                keyword_texts.append(f"{keyword_context(article, paragraph)} {part.text}")
        report.chunks = len(chunks)

        target = self._target(old, full)
        client = self._client(chroma_dir=target.get("chroma_dir"))
        try:
            collection = self._collection(client, target["collection"], create=True)
            article_of = {p.id: p.article_id for p in paragraphs}
            wanted: dict[str, int] = {}  # chunk id → index of its first occurrence
            for i, chunk in enumerate(chunks):
                wanted.setdefault(chunk.id, i)
            with native_errors(f"the vector store could not be read; {REBUILD_HINT}"):
                stored = collection.get(include=["metadatas"]) if (not full or target.get("resumed")) else None
            existing = {}
            if stored:
                existing = {i: (m or {}).get("article_id") for i, m in zip(stored["ids"], stored["metadatas"],
                                                                          strict=True)}
            todo = [i for chunk_id, i in wanted.items() if chunk_id not in existing]
            self._relabel(collection, chunks, article_of, wanted, existing)

            embed_started = time.perf_counter()
            if todo and embed_model is None:
                embed_model = make_embedding(self.settings.embed_model, self.settings)
            self._embed_and_store(collection, chunks, embed_texts, article_of, todo, progress, show_bar,
                                  embed_model)
            report.embedded = len(todo)
            report.embed_seconds = time.perf_counter() - embed_started

            generation = self._owned_folder("gen")
            known_tokens = {} if full else self._stored_tokens(old)
            self._write_generation(self.root / generation, articles, paragraphs, chunks, keyword_texts,
                                   known_tokens)
            manifest = {
                "format": FORMAT_VERSION,
                "embed_model": self.settings.embed_model,
                "chroma": self._location(),
                "collection": target["collection"],
                "generation": generation,
                "files": files,
                "counts": {"articles": len(articles), "paragraphs": len(paragraphs), "chunks": len(chunks)},
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            if target.get("chroma_dir"):
                manifest["chroma_dir"] = target["chroma_dir"]
            tmp = self.root / f".{MANIFEST}.tmp"
            tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
            os.replace(tmp, self.root / MANIFEST)  # the switch-over: atomic on one file system
            with contextlib.suppress(OSError):
                (self.root / PENDING).unlink()

            report.removed = self._clean_up(old, manifest, client, collection, set(wanted))
        finally:
            with contextlib.suppress(Exception):
                client.close()
        report.seconds = time.perf_counter() - started
        return report

    def _target(self, old: dict | None, full: bool) -> dict:
        """Where the vectors go: the live collection for an update; for a full build, a new folder and
        collection, or those of an interrupted full build of the same model and store, to resume it."""
        if not full:
            return {key: old[key] for key in ("collection", "chroma_dir") if key in old}
        pending = self._pending()
        if pending:
            return {**pending, "resumed": True}
        target = {"collection": f"qa-{uuid.uuid4().hex[:12]}",
                  "embed_model": self.settings.embed_model, "chroma": self._location()}
        if not self.settings.uses_chroma_server:
            target["chroma_dir"] = self._owned_folder("chroma")
        tmp = self.root / f"{PENDING}.tmp"
        tmp.write_text(json.dumps(target), encoding="utf-8")
        os.replace(tmp, self.root / PENDING)
        return target

    def _pending(self) -> dict | None:
        """The interrupted full build to resume, if it was of this model and store and is still whole."""
        try:
            pending = json.loads((self.root / PENDING).read_text(encoding="utf-8"))
            if pending.get("embed_model") != self.settings.embed_model or pending.get("chroma") != self._location():
                return None
            if not _COLLECTION.fullmatch(str(pending.get("collection"))):
                return None
            if not self.settings.uses_chroma_server:
                folder = self._inside(pending.get("chroma_dir"), _CHROMA_DIR)
                if not (folder / OWNED).exists():
                    return None
                client = self._client(chroma_dir=pending["chroma_dir"])
                try:
                    client.get_collection(pending["collection"])
                finally:
                    client.close()
            return pending
        except Exception:  # no pending build, or one whose files cannot be trusted: start afresh
            return None

    def _relabel(self, collection, chunks, article_of, wanted, existing) -> None:
        """Stored vectors whose document was renamed or moved get the new document id, not a new embedding."""
        stale = [chunk_id for chunk_id, i in wanted.items()
                 if chunk_id in existing and existing[chunk_id] != article_of[chunks[i].paragraph_id]]
        for start in range(0, len(stale), STORE_BATCH):
            part = stale[start : start + STORE_BATCH]
            metadatas = [{"paragraph_id": chunks[wanted[c]].paragraph_id,
                          "article_id": article_of[chunks[wanted[c]].paragraph_id]} for c in part]
            with native_errors(f"the vector store could not be updated; {REBUILD_HINT}"):
                collection.update(ids=part, metadatas=metadatas)

    def _embed_and_store(self, collection, chunks, embed_texts, article_of, todo, progress, show_bar, embed_model):
        vector_store = ChromaVectorStore(chroma_collection=collection)
        # Chroma is written in large batches: 16 vectors a write cost 6x more than 1,024 (eval/bench.py).
        pending: list[TextNode] = []
        bar = tqdm(total=len(todo), desc="embedding", unit="chunk", file=sys.stderr, disable=not show_bar)
        # an embedding server takes more texts a call, to keep several requests in flight
        batch = max(EMBED_BATCH, embed_model.embed_batch_size if embed_model is not None else 0)
        for start in range(0, len(todo), batch):
            part = todo[start : start + batch]
            vectors = embed_model.get_text_embedding_batch([embed_texts[i] for i in part])
            nodes = [
                TextNode(
                    id_=chunks[i].id,
                    text=embed_texts[i],
                    embedding=vector,
                    metadata={"paragraph_id": chunks[i].paragraph_id,
                              "article_id": article_of[chunks[i].paragraph_id]},
                )
                for i, vector in zip(part, vectors, strict=True)
            ]
            pending += nodes
            if len(pending) >= STORE_BATCH or start + batch >= len(todo):
                with native_errors(f"the vector store could not be written; {REBUILD_HINT}"):
                    vector_store.add(pending)
                pending = []
            bar.update(len(part))
            if progress:
                progress(min(start + batch, len(todo)), len(todo), "embedding")
        bar.close()

    def _write_generation(self, folder: Path, articles, paragraphs, chunks, keyword_texts,
                          known_tokens: dict[str, list[str]]) -> None:
        table = {
            "articles": [asdict(a) for a in articles],
            "paragraphs": [asdict(p) for p in paragraphs],
            "chunks": [asdict(c) for c in chunks],
        }
        (folder / "corpus.json").write_text(json.dumps(table, ensure_ascii=False), encoding="utf-8")
        # Tokenising is most of an update's cost (jieba over every chunk): only new keyword texts are
        # tokenised, the rest come from the previous generation.
        keys = [stable_id(text) for text in keyword_texts]
        token_lists = [known_tokens.get(key) or tokens(text) for key, text in zip(keys, keyword_texts, strict=True)]
        (folder / TOKENS).write_text(json.dumps({"keys": keys, "tokens": token_lists},
                                                ensure_ascii=False), encoding="utf-8")
        bm25 = bm25s.BM25()
        bm25.index(token_lists, show_progress=False)
        bm25.save(str(folder / "bm25"), show_progress=False)
        NameIndex.build(articles, paragraphs).save(folder)

    def _stored_tokens(self, manifest: dict) -> dict[str, list[str]]:
        """Keyword tokens of the live generation, by the hash of their text; empty if unreadable."""
        try:
            stored = json.loads((self._inside(manifest.get("generation"), _GENERATION) / TOKENS)
                                .read_text(encoding="utf-8"))
            return dict(zip(stored["keys"], stored["tokens"], strict=True))
        except (OSError, ValueError, KeyError, TypeError, IndexUnavailable):
            return {}

    def _clean_up(self, old: dict | None, new: dict, client, collection, live_ids: set[str]) -> int:
        """Remove what the new index no longer uses, and only what a build of ours wrote."""
        keep = {new["generation"], new.get("chroma_dir")}
        for folder in self.root.iterdir():
            if (folder.name not in keep and folder.is_dir() and not folder.is_symlink()
                    and (_GENERATION.fullmatch(folder.name) or _CHROMA_DIR.fullmatch(folder.name))
                    and (folder / OWNED).exists()):
                shutil.rmtree(folder, ignore_errors=True)
        if old and old.get("format") == 2:  # an index of the previous version: its own two folders
            for name in (old.get("generation"), "chroma"):
                if isinstance(name, str) and (name == "chroma" or _GENERATION.fullmatch(name)):
                    shutil.rmtree(self.root / name, ignore_errors=True)
        if self.settings.uses_chroma_server and old and old.get("collection") != new["collection"]:
            with contextlib.suppress(Exception):  # already gone, or on a server we no longer use
                if _COLLECTION.fullmatch(str(old.get("collection"))) and old.get("chroma") == new["chroma"]:
                    client.delete_collection(old["collection"])
        if old is None or old.get("collection") != new["collection"]:
            return 0
        with native_errors(f"the vector store could not be cleaned; {REBUILD_HINT}"):
            stale = [i for i in collection.get(include=[])["ids"] if i not in live_ids]
            if stale:
                collection.delete(ids=stale)
        return len(stale)
