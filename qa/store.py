"""The index on disk: Chroma vectors (file or server), a BM25 keyword index, the paragraph table and a
manifest; incremental, and atomic: a build switches over only when it is complete."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import bm25s
import chromadb
import numpy as np
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
from .corpus import Chunk, chunk_paragraph, context_line, keyword_context, load_corpus
from .embeddings import make_embedding
from .text import stable_id, tokens
from .types import Article, Paragraph

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
STORE_BATCH = 1024
REBUILD_HINT = "rebuild it with: qa index --rebuild"
Progress = Callable[[int, int, str], None]


class IndexUnavailable(RuntimeError):
    """The index is missing, corrupt, foreign, or its Chroma server cannot be reached."""


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

    def summary(self) -> str:
        kind = "full build" if self.full_rebuild else "update"
        return (
            f"{kind}: {self.articles} articles, {self.paragraphs} paragraphs, {self.chunks} chunks "
            f"({self.embedded} embedded, {self.removed} removed) in {self.seconds:.1f} s"
        )


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
        result = self.vector_store.query(
            VectorStoreQuery(query_embedding=query_embedding, similarity_top_k=top_k, filters=filters)
        )
        # Chunks left by an interrupted update are in Chroma but not in the table: ignore them.
        return [
            (chunk_id, float(score))
            for chunk_id, score in zip(result.ids or [], result.similarities or [], strict=False)
            if chunk_id in self.chunks
        ]


class IndexStore:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.root = Path(settings.index_dir)

    # --- reading -------------------------------------------------------------------------------
    def read_manifest(self) -> dict | None:
        """None when no index was built here; IndexUnavailable when what is here is not a usable index."""
        path = self.root / MANIFEST
        if not path.exists():
            foreign = self.root.exists() and any(not p.name.startswith(".") for p in self.root.iterdir())
            if foreign:
                raise IndexUnavailable(
                    f"{self.root} holds files but no {MANIFEST}: it is not an interview-qa index "
                    f"(or a build never finished); {REBUILD_HINT}"
                )
            return None
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise IndexUnavailable(f"the index manifest {path} is unreadable ({error}); {REBUILD_HINT}") from None
        if not isinstance(manifest, dict) or "format" not in manifest or "collection" not in manifest:
            raise IndexUnavailable(f"{path} is not an interview-qa index manifest; {REBUILD_HINT}")
        return manifest

    def exists(self) -> bool:
        return self.read_manifest() is not None

    def load(self) -> LoadedIndex:
        manifest = self.read_manifest()
        if manifest is None:
            raise IndexUnavailable(f"no index in {self.root}; build it with: qa index")
        if manifest["format"] != FORMAT_VERSION:
            raise IndexUnavailable(f"the index in {self.root} has an older format; {REBUILD_HINT}")
        generation = self.root / manifest["generation"]
        try:
            table = json.loads((generation / "corpus.json").read_text(encoding="utf-8"))
            articles = {a["id"]: Article(**a) for a in table["articles"]}
            paragraphs = {p["id"]: Paragraph(**p) for p in table["paragraphs"]}
            chunks = {c["id"]: Chunk(**c) for c in table["chunks"]}
            bm25 = bm25s.BM25.load(str(generation / "bm25"), show_progress=False)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise IndexUnavailable(f"the index in {self.root} is damaged ({error}); {REBUILD_HINT}") from None
        collection = self._collection(manifest["collection"], create=False)
        return LoadedIndex(
            manifest=manifest,
            articles=articles,
            paragraphs=paragraphs,
            chunks=chunks,
            chunk_ids=[c["id"] for c in table["chunks"]],
            bm25=bm25,
            vector_store=ChromaVectorStore(chroma_collection=collection),
        )

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())

    # --- Chroma --------------------------------------------------------------------------------
    def _client(self):
        settings = chromadb.Settings(anonymized_telemetry=False)
        if self.settings.uses_chroma_server:
            host, port = self.settings.chroma_host or "127.0.0.1", self.settings.chroma_port or 8000
            try:
                return chromadb.HttpClient(host=host, port=port, settings=settings)
            except Exception as error:  # chromadb raises several types for a server that is down
                raise IndexUnavailable(
                    f"the Chroma server at {host}:{port} is not reachable ({error}); start it with "
                    f"`chroma run --path DIR --host {host} --port {port}` or unset QA_CHROMA_HOST/QA_CHROMA_PORT"
                ) from None
        try:
            return chromadb.PersistentClient(path=str(self.root / "chroma"), settings=settings)
        except Exception as error:  # a damaged sqlite file surfaces as various chromadb/sqlite errors
            raise IndexUnavailable(f"the vector store in {self.root / 'chroma'} is damaged ({error}); "
                                   f"{REBUILD_HINT}") from None

    def _collection(self, name: str, create: bool):
        client = self._client()
        try:
            if create:
                return client.get_or_create_collection(name, metadata={"hnsw:space": "cosine"})
            return client.get_collection(name)
        except IndexUnavailable:
            raise
        except Exception as error:
            where = "the Chroma server" if self.settings.uses_chroma_server else str(self.root / "chroma")
            raise IndexUnavailable(f"collection {name} is missing or unreadable in {where} ({error}); "
                                   f"{REBUILD_HINT}") from None

    def _location(self) -> str:
        if self.settings.uses_chroma_server:
            return f"http://{self.settings.chroma_host or '127.0.0.1'}:{self.settings.chroma_port or 8000}"
        return "file"

    # --- building ------------------------------------------------------------------------------
    def build(self, data_dir: Path | None = None, rebuild: bool = False, progress: Progress | None = None,
              show_bar: bool = True, embed_model=None) -> BuildReport:
        """Build or update the index; `embed_model` reuses a loaded model of the configured name."""
        started = time.perf_counter()
        data_dir = Path(data_dir or self.settings.data_dir)
        if not data_dir.is_dir():
            raise FileNotFoundError(f"data folder {data_dir} does not exist")
        documents, warnings = load_corpus(data_dir)
        if not documents:
            raise ValueError(
                f"no readable documents (.txt, .md, .html, .docx) in {data_dir}; the index was left as it was"
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
        report = BuildReport(len(articles), len(paragraphs), full_rebuild=full, warnings=warnings)
        if not full and old.get("files") == files:
            report.chunks = old.get("counts", {}).get("chunks", 0)
            report.seconds = time.perf_counter() - started
            return report

        by_article = {a.id: a for a in articles}
        chunks, embed_texts, keyword_texts = [], [], []
        for paragraph in paragraphs:
            article = by_article[paragraph.article_id]
            for part in chunk_paragraph(paragraph):
                embed_text = f"{context_line(article)}\n{part.text}"
                # The id hashes what is embedded, so changed context or text means a new vector.
                chunks.append(Chunk(stable_id(paragraph.id, embed_text), paragraph.id, part.text))
                embed_texts.append(embed_text)
                keyword_texts.append(f"{keyword_context(article)} {part.text}")
        report.chunks = len(chunks)

        if full and not self.settings.uses_chroma_server:
            self._set_aside_broken_store()
        collection_name = f"qa-{uuid.uuid4().hex[:12]}" if full else old["collection"]
        collection = self._collection(collection_name, create=True)
        existing = set() if full else set(collection.get(ids=[c.id for c in chunks], include=[])["ids"])
        todo = [i for i, c in enumerate(chunks) if c.id not in existing]

        embed_started = time.perf_counter()
        embed_model = embed_model or make_embedding(self.settings.embed_model) if todo else None
        self._embed_and_store(collection, chunks, embed_texts, paragraphs, todo, progress, show_bar, embed_model)
        report.embedded = len(todo)
        report.embed_seconds = time.perf_counter() - embed_started

        generation = f"gen-{uuid.uuid4().hex[:12]}"
        self._write_generation(self.root / generation, articles, paragraphs, chunks, keyword_texts)
        manifest = {
            "format": FORMAT_VERSION,
            "embed_model": self.settings.embed_model,
            "chroma": self._location(),
            "collection": collection_name,
            "generation": generation,
            "files": files,
            "counts": {"articles": len(articles), "paragraphs": len(paragraphs), "chunks": len(chunks)},
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        tmp = self.root / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self.root / MANIFEST)  # the switch-over: atomic on one file system

        report.removed = self._clean_up(old, manifest, collection, {c.id for c in chunks})
        report.seconds = time.perf_counter() - started
        return report

    def _embed_and_store(self, collection, chunks, embed_texts, paragraphs, todo, progress, show_bar, embed_model):
        vector_store = ChromaVectorStore(chroma_collection=collection)
        article_of = {p.id: p.article_id for p in paragraphs}
        batch = 16
        # Chroma is written in large batches: 16 vectors a write cost 6x more than 1,024 (eval/bench.py).
        pending: list[TextNode] = []
        bar = tqdm(total=len(todo), desc="embedding", unit="chunk", file=sys.stderr, disable=not show_bar)
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
                vector_store.add(pending)
                pending = []
            bar.update(len(part))
            if progress:
                progress(min(start + batch, len(todo)), len(todo), "embedding")
        bar.close()

    def _write_generation(self, folder: Path, articles, paragraphs, chunks, keyword_texts) -> None:
        folder.mkdir(parents=True)
        table = {
            "articles": [asdict(a) for a in articles],
            "paragraphs": [asdict(p) for p in paragraphs],
            "chunks": [asdict(c) for c in chunks],
        }
        (folder / "corpus.json").write_text(json.dumps(table, ensure_ascii=False), encoding="utf-8")
        bm25 = bm25s.BM25()
        bm25.index([tokens(text) for text in keyword_texts], show_progress=False)
        bm25.save(str(folder / "bm25"), show_progress=False)

    def _set_aside_broken_store(self) -> None:
        """A full rebuild must work even when the old vector store cannot be opened."""
        try:
            self._client().list_collections()
        except Exception:
            broken = self.root / "chroma"
            if broken.exists():
                broken.rename(self.root / f"chroma.broken-{int(time.time())}")
            # chromadb keeps one client per path in a process: drop the one bound to the broken file.
            from chromadb.api.client import SharedSystemClient

            SharedSystemClient.clear_system_cache()

    def _clean_up(self, old: dict | None, new: dict, collection, live_ids: set[str]) -> int:
        """Remove what the new index no longer uses: old generations, old collection or stale vectors."""
        for folder in self.root.glob("gen-*"):
            if folder.name != new["generation"]:
                shutil.rmtree(folder, ignore_errors=True)
        for folder in self.root.glob("chroma.broken-*"):
            shutil.rmtree(folder, ignore_errors=True)
        if old and old.get("collection") != new["collection"]:
            with contextlib.suppress(Exception):  # already gone, or on a server we no longer use
                self._client().delete_collection(old["collection"])
        if not self.settings.uses_chroma_server:  # collections of builds that were interrupted
            client = self._client()
            for name in client.list_collections():
                name = getattr(name, "name", name)
                if name.startswith("qa-") and name != new["collection"]:
                    client.delete_collection(name)
        if old is None or old.get("collection") != new["collection"]:
            return 0
        stale = [i for i in collection.get(include=[])["ids"] if i not in live_ids]
        if stale:
            collection.delete(ids=stale)
        return len(stale)
