"""The index on disk: vectors (a Chroma folder or server, see qa/vectorstores.py), a BM25 keyword index, the
paragraph table and a manifest. Builds are incremental, atomic (the manifest switches over only when a build is
complete), one at a time (an inter-process lock), and never remove a file this program did not write."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import bm25s
import numpy as np
import orjson
from filelock import FileLock, Timeout
from tqdm import tqdm

from . import passage_features
from .config import Settings
from .corpus import (
    PARSER_VERSION,
    SUPPORTED_SUFFIXES,
    Chunk,
    Document,
    chunk_paragraph,
    context_line,
    district_aliases,
    format_summary,
    keyword_context,
    load_corpus,
)
from .embeddings import make_embedding
from .names import NAMES_FILE, NameIndex, matching_aliases, names_found, tagged_names
from .text import normalise, simplified, stable_id, tokens
from .types import Article, Paragraph
from .vectorstores import (  # noqa: F401 - IndexUnavailable and native_errors are imported from here too
    COLLECTION_NAME,
    REBUILD_HINT,
    IndexUnavailable,
    VectorCollection,
    make_vector_store,
    native_errors,
)

FORMAT_VERSION = 4  # 4: tokens, tags and names in Simplified characters
MANIFEST = "manifest.json"
# Written first into an index folder this program creates or adopts: a folder without it (or a manifest of
# ours) holds someone else's files, and a build stops before touching it.
MARKER = ".interview-qa-index"
MARKER_CONTENT = {"program": "interview-qa", "kind": "index folder",
                  "note": "qa index --rebuild rewrites this folder; delete it only with this file"}
_OLD_MARKER_TEXT = "This folder is an interview-qa index"  # what the marker held before it was JSON
# Written first into every sub-folder a build creates; clean-up removes only folders that hold it.
OWNED = ".interview-qa-owned"
LOCK = ".build.lock"
BUILDER_PID = ".build.pid"
# A full build in progress: the next build resumes it (chunk ids are content hashes) instead of starting over.
PENDING = ".pending-build.json"
# Every chunk's keyword tokens as ids into one vocabulary, in corpus order, with the hash of the text they
# were cut from: numpy arrays, read in milliseconds (as JSON, reading and writing them was seconds at 10k).
TOKENS = "keyword-tokens.npz"
# Per file, in corpus order: its hash, how many articles, paragraphs and chunks it has in corpus.json, the
# names found in it and the names jieba tagged in its texts (by a hash of the text). An update takes an
# unchanged file's rows from here, corpus.json and TOKENS, and parses, chunks, tokenises and tags changed
# files only (tagging alone is minutes at 100k paragraphs). Unchanged names keep their derived aliases.
DOCUMENTS = "documents.json"
_GENERATION = re.compile(r"gen-[0-9a-f]{12}")
_CHROMA_DIR = re.compile(r"chroma-[0-9a-f]{12}")
STORE_BATCH = 1024
# ... or what was embedded in this many seconds, whichever comes first: a killed build resumes from what is
# stored, and with a real model 1,024 chunks are minutes of embedding.
STORE_SECONDS = 10.0
# A filter leaving at most this many chunks is searched exactly over their own vectors (a get by id costs
# ~0.06 ms a chunk); more go to Chroma restricted to their ids (35 ms for 4,500 of 150k chunks).
EXACT_SEARCH_MAX_CHUNKS = 1000
VECTOR_CACHE_MAX = 50_000  # vectors of filtered chunks kept in memory: 75 MiB at 384 dimensions
EMBED_BATCH = 16
# Files a build of ours leaves at the top of a folder it has just claimed (a killed build may leave them alone).
# Files that leave a folder empty for our purposes: ours while building, and the empty placeholder git keeps in
# a folder (the repository ships index/ so, and a fresh clone must build into it).
_TRANSIENT = frozenset({MARKER, f"{MARKER}.tmp", LOCK, BUILDER_PID, PENDING, f"{PENDING}.tmp", f".{MANIFEST}.tmp",
                        ".gitkeep"})
FOREIGN_FOLDER = ("the index folder holds files that interview-qa did not write, so it is not used; set QA_INDEX_DIR "
                  "to an empty or new folder (nothing in this one was changed)")
Progress = Callable[[int, int, str], None]


class BuildBusy(RuntimeError):
    """Another process (or thread) is building this index right now."""

    def __init__(self, pid: str):
        who = f" (pid {pid})" if pid else ""
        super().__init__(f"another build of this index is running{who}; try again when it has finished")
        self.pid = pid


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
    vectors: VectorCollection  # closed when the index is replaced
    signature: tuple = ()  # the manifest file this was loaded from (see IndexStore.signature)
    names: NameIndex | None = None  # people, places, organisations and titles, built with the index
    # Built once here so that no question walks every article, paragraph or chunk: each BM25 row's article
    # (a position in `articles`), the rows grouped by article, and each article's paragraphs in order.
    row_article: np.ndarray = field(init=False, repr=False)
    row_paragraph: list[str] = field(init=False, repr=False)
    _article_position: dict[str, int] = field(init=False, repr=False)
    _rows_by_article: np.ndarray = field(init=False, repr=False)
    _article_row_starts: np.ndarray = field(init=False, repr=False)
    _paragraphs_by_article: dict[str, list[Paragraph]] = field(init=False, repr=False)
    _articles_by_name: dict[str, set[str]] | None = field(init=False, repr=False, default=None)
    # Stored vectors of chunks a filtered question scored exactly, kept for the next question on the same articles.
    _vector_cache: dict[str, np.ndarray] = field(init=False, repr=False, default_factory=dict)
    _vector_lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    # Questions running on this index, and whether a newer one replaced it: its vector store's client is closed
    # once both say nobody uses it (closed under a running search, it failed that question).
    _users: int = field(init=False, repr=False, default=0)
    _retired: bool = field(init=False, repr=False, default=False)
    _users_lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._article_position = {article_id: i for i, article_id in enumerate(self.articles)}
        self.row_paragraph = [self.chunks[chunk_id].paragraph_id for chunk_id in self.chunk_ids]
        self.row_article = np.fromiter(
            (self._article_position[self.paragraphs[p].article_id] for p in self.row_paragraph),
            dtype=np.int32, count=len(self.row_paragraph),
        )
        self._rows_by_article = np.argsort(self.row_article, kind="stable").astype(np.int64)
        counts = np.bincount(self.row_article, minlength=len(self.articles))
        self._article_row_starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self._paragraphs_by_article = {article_id: [] for article_id in self.articles}
        for paragraph in self.paragraphs.values():
            self._paragraphs_by_article[paragraph.article_id].append(paragraph)

    def rows_of_articles(self, article_ids) -> np.ndarray:
        """The BM25 rows (ascending) of these articles; unknown ids are ignored. Costs the articles' own rows."""
        positions = sorted({self._article_position[a] for a in article_ids if a in self._article_position})
        if not positions:
            return np.zeros(0, dtype=np.int64)
        starts, ends = self._article_row_starts[positions], self._article_row_starts[np.add(positions, 1)]
        return np.sort(np.concatenate([self._rows_by_article[s:e] for s, e in zip(starts, ends, strict=True)]))

    def articles_matching(self, article_ids=(), names=()) -> list[str]:
        """Ids, in index order, of the articles among `article_ids` or named by one of `names` (a district
        under any of its aliases, or the interviewee, compared normalised): a filter's articles by look-up."""
        if self._articles_by_name is None:  # built on first use: most indexes are never filtered by name
            by_name: dict[str, set[str]] = {}
            for article in self.articles.values():
                for name in [*district_aliases(article.district), article.interviewee]:
                    if name:
                        by_name.setdefault(normalise(name), set()).add(article.id)
            self._articles_by_name = by_name
        wanted = {a for a in article_ids if a in self._article_position}
        for name in names:
            wanted |= self._articles_by_name.get(normalise(name), set())
        return sorted(wanted, key=self._article_position.__getitem__)

    def paragraphs_of_article(self, article_id: str) -> list[Paragraph]:
        """An article's paragraphs in reading order (empty for an unknown id)."""
        return self._paragraphs_by_article.get(article_id, [])

    def document_frequencies(self) -> dict[str, int]:
        """How many chunks hold each keyword token: read off the BM25 index's sparse columns."""
        indptr = np.asarray(self.bm25.scores["indptr"])
        return {
            token: int(indptr[i + 1] - indptr[i])
            for token, i in self.bm25.vocab_dict.items()
            if i + 1 < len(indptr)
        }

    def bm25_scores(self, query_tokens: list[str], allowed: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every row; `allowed` is a 0/1 weight per row, or the row numbers to keep (others 0)."""
        ids = self.bm25.get_tokens_ids(query_tokens)
        if not ids:
            return np.zeros(len(self.chunk_ids), dtype=np.float32)
        scores = self.bm25.get_scores_from_ids(ids)
        if allowed is None:
            return scores
        if allowed.dtype.kind in "iu":  # row numbers, e.g. from rows_of_articles
            kept = np.zeros_like(scores)
            kept[allowed] = scores[allowed]
            return kept
        return scores * allowed

    def bm25_top(self, query_tokens: list[str], depth: int, rows: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The `depth` best-scoring rows with a positive score, best first, among `rows` (ascending) if given.
        Only the query tokens' postings are read: the cost is what the tokens occur in, not the corpus size
        (a full score array and a partial sort over it cost 14 ms at 150k chunks)."""
        ids = self.bm25.get_tokens_ids(query_tokens)
        if not ids:
            return []
        if self.bm25.nonoccurrence_array is not None:  # BM25L/BM25+ score rows without the tokens too
            scores = self.bm25_scores(query_tokens)
            candidates = np.arange(len(scores)) if rows is None else rows
            totals, found = scores[candidates], candidates
        else:
            stored = self.bm25.scores
            indptr, indices, data = stored["indptr"], stored["indices"], stored["data"]
            postings = np.concatenate([indices[indptr[i] : indptr[i + 1]] for i in ids])
            weights = np.concatenate([data[indptr[i] : indptr[i + 1]] for i in ids])
            if rows is not None:
                if not len(rows):
                    return []
                at = np.minimum(np.searchsorted(rows, postings), len(rows) - 1)
                keep = rows[at] == postings
                postings, weights = postings[keep], weights[keep]
            if len(postings) * 8 > len(self.chunk_ids):  # frequent tokens: one pass over a full array is cheaper
                totals = np.bincount(postings, weights=weights, minlength=len(self.chunk_ids))
                found = np.arange(len(totals)) if rows is None else rows
                totals = totals if rows is None else totals[rows]
            else:
                found, inverse = np.unique(postings, return_inverse=True)
                totals = np.bincount(inverse, weights=weights, minlength=len(found))
        top = np.argpartition(-totals, depth)[:depth] if len(totals) > depth else np.arange(len(totals))
        top = top[np.argsort(-totals[top], kind="stable")]
        top = top[totals[top] > 0]
        return [(int(found[i]), float(totals[i])) for i in top]

    def dense(self, query_embedding: list[float], top_k: int,
              article_ids: list[str] | None = None) -> list[tuple[str, float]]:
        """The `top_k` chunks nearest the query (of these articles, if given), best first, with llama-index's
        similarity. A filter that leaves few chunks scores their own vectors exactly: Chroma's `where` read the
        metadata of every vector (1.3 s at 150k chunks), whatever the filter left."""
        if article_ids:
            allowed = [self.chunk_ids[row] for row in self.rows_of_articles(article_ids)]
            if len(allowed) <= EXACT_SEARCH_MAX_CHUNKS:
                return self.exact_dense(query_embedding, top_k, allowed)
            found = self.vectors.search(query_embedding, top_k, ids=allowed)
        else:
            found = self.vectors.search(query_embedding, top_k)
        # Chunks left by an interrupted update are in Chroma but not in the table: ignore them.
        return [(chunk_id, score) for chunk_id, score in found if chunk_id in self.chunks]

    def exact_dense(self, query_embedding, top_k: int, chunk_ids: list[str]) -> list[tuple[str, float]]:
        """Cosine similarity to each of `chunk_ids`' stored vectors, as Chroma's exact search ranks them: the
        answerer reads how close each part of a retrieved paragraph is without embedding it again."""
        with self._vector_lock:
            missing = [c for c in chunk_ids if c not in self._vector_cache]
        if missing:
            fetched = self.vectors.vectors(missing)
            with self._vector_lock:
                if len(self._vector_cache) + len(fetched) > VECTOR_CACHE_MAX:
                    self._vector_cache.clear()
                self._vector_cache.update(fetched)
        with self._vector_lock:
            present = [c for c in chunk_ids if c in self._vector_cache]
            if not present:
                return []
            matrix = np.stack([self._vector_cache[c] for c in present])
        query = np.asarray(query_embedding, dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1) * max(float(np.linalg.norm(query)), 1e-12)
        distances = 1.0 - (matrix @ query) / np.maximum(norms, 1e-12)
        order = np.argsort(distances, kind="stable")[:top_k]
        return [(present[i], float(np.exp(-distances[i]))) for i in order]

    @property
    def vector_store(self):
        """The llama-index vector store over this index's vectors."""
        return self.vectors.query_store

    def close(self) -> None:
        """Release the vector store's client, so that the next load reads what another process wrote."""
        self.vectors.close()

    def hold(self) -> None:
        """A question starts on this index: it stays open until the matching release()."""
        with self._users_lock:
            self._users += 1

    def release(self) -> None:
        with self._users_lock:
            self._users -= 1
            close = self._retired and self._users == 0
        if close:
            self.close()

    def retire(self) -> None:
        """A newer index replaced this one: closed now if no question uses it, else by the last to finish."""
        with self._users_lock:
            self._retired = True
            close = self._users == 0
        if close:
            self.close()


def _read_table(path: Path) -> tuple[dict[str, Article], dict[str, Paragraph], dict[str, Chunk], list[str]]:
    """The paragraph table, in the least memory: each part of the parsed JSON is dropped once its objects are
    made, and an id or text the table repeats (a chunk's paragraph id, a whole paragraph as one chunk) is one
    string, not a copy per row (together 60 MiB less at 100k paragraphs)."""
    table = json.loads(path.read_text(encoding="utf-8"))
    articles = {a["id"]: Article(**a) for a in table.pop("articles")}
    paragraphs = {}
    for row in table.pop("paragraphs"):
        article = articles.get(row["article_id"])
        if article is not None:
            row["article_id"] = article.id
        paragraphs[row["id"]] = Paragraph(**row)
    chunks, chunk_ids = {}, []
    for row in table.pop("chunks"):
        paragraph = paragraphs.get(row["paragraph_id"])
        if paragraph is not None:
            row["paragraph_id"] = paragraph.id
            if row["text"] == paragraph.text:
                row["text"] = paragraph.text
        chunk = Chunk(**row)
        chunks[chunk.id] = chunk
        chunk_ids.append(chunk.id)
    del table
    _return_freed_memory()
    return articles, paragraphs, chunks, chunk_ids


def _return_freed_memory() -> None:
    """Give the parsed JSON's freed heap back to the system (glibc keeps it otherwise), so that the vector
    index loaded next does not add to it."""
    import ctypes

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class IndexStore:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.root = Path(settings.index_dir)
        self.vector_backend = make_vector_store(settings)

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
        if self._is_foreign():
            raise IndexUnavailable(FOREIGN_FOLDER, str(self.root))
        path = self.root / MANIFEST
        if not path.exists():
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
            articles, paragraphs, chunks, chunk_ids = _read_table(generation / "corpus.json")
            # The BM25 arrays are mapped, not read: only the postings questions touch take memory (70 MiB at 100k).
            bm25 = bm25s.BM25.load(str(generation / "bm25"), show_progress=False, mmap=True)
            # An index written before the name index existed gets one built at its first question.
            names = NameIndex.load(generation) if (generation / NAMES_FILE).exists() else None
        except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
            raise IndexUnavailable(f"the index is damaged; {REBUILD_HINT}", f"{generation}: {error}") from None
        vectors = self._open_vectors(manifest, create=False)
        passage_features.register(generation)
        return LoadedIndex(
            manifest=manifest,
            articles=articles,
            paragraphs=paragraphs,
            chunks=chunks,
            chunk_ids=chunk_ids,
            bm25=bm25,
            vectors=vectors,
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
        """A folder that holds anything but our marker's say-so (or, for an index built before the marker,
        a manifest of ours beside its generation) belongs to someone else: any file may be named
        manifest.json, so the name alone proves nothing."""
        if not self.root.is_dir() or self._marked() or self._legacy_index():
            return False
        try:
            return any(entry.name not in _TRANSIENT for entry in self.root.iterdir())
        except OSError:
            return True

    def _marked(self) -> bool:
        try:
            text = (self.root / MARKER).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return False
        if text.startswith(_OLD_MARKER_TEXT):
            return True
        try:
            content = json.loads(text)
        except json.JSONDecodeError:
            return False
        return isinstance(content, dict) and content.get("program") == MARKER_CONTENT["program"]

    def _legacy_index(self) -> bool:
        """An index of ours written before the marker: our manifest's fields, naming a generation that is there."""
        try:
            manifest = json.loads((self.root / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return False
        if not isinstance(manifest, dict) or manifest.get("format") not in range(2, FORMAT_VERSION + 1):
            return False
        generation, chroma_dir = manifest.get("generation"), manifest.get("chroma_dir", "chroma")
        return (COLLECTION_NAME.fullmatch(str(manifest.get("collection"))) is not None
                and isinstance(generation, str) and _GENERATION.fullmatch(generation) is not None
                and (self.root / generation / "corpus.json").is_file()
                and isinstance(chroma_dir, str) and (chroma_dir == "chroma" or _CHROMA_DIR.fullmatch(chroma_dir))
                and (not self.vector_backend.uses_folder or (self.root / chroma_dir).is_dir()))

    def _claim(self) -> None:
        """Make the folder ours before writing anything in it, or stop: never build into someone's folder."""
        self._check_folder()
        if self._is_foreign():
            raise IndexUnavailable(FOREIGN_FOLDER, str(self.root))
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            marker = self.root / MARKER
            if not marker.exists() or marker.read_text(encoding="utf-8").startswith(_OLD_MARKER_TEXT):
                tmp = self.root / f"{MARKER}.tmp"
                tmp.write_text(json.dumps(MARKER_CONTENT), encoding="utf-8")
                os.replace(tmp, marker)
        except (OSError, UnicodeDecodeError) as error:
            raise IndexUnavailable("cannot write to the index folder; check its permissions",
                                   f"{self.root}: {getattr(error, 'strerror', None) or error}") from None

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

    # --- vectors ------------------------------------------------------------------------------
    def _open_vectors(self, target: dict, create: bool) -> VectorCollection:
        """The collection a manifest (or a build's target) names, in its folder if the store keeps one."""
        folder = self._inside(target.get("chroma_dir"), _CHROMA_DIR) if self.vector_backend.uses_folder else None
        return self.vector_backend.open(target.get("collection"), folder, create=create)

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
            or old.get("chroma") != self.vector_backend.location
        )
        parser = [PARSER_VERSION, self.settings.max_paragraph_chars]
        previous, vocabulary = ({}, _Vocabulary([])) if full else self._stored_documents(
            old, reuse_parsed=old.get("parser") == parser)
        documents, warnings = load_corpus(data_dir, max_paragraph_chars=self.settings.max_paragraph_chars,
                                          follow_symlinks=self.settings.follow_symlinks,
                                          max_expanded_bytes=self.settings.max_expanded_bytes,
                                          max_paragraphs=self.settings.max_paragraphs_per_file,
                                          parsed=lambda source, sha256: _parsed(previous, source, sha256))
        if not documents:
            raise ValueError(
                f"no readable documents ({', '.join(SUPPORTED_SUFFIXES)}) in {data_dir}; the index was left as it was"
            )
        files = {d.source: d.sha256 for d in documents}
        articles = [a for d in documents for a in d.articles]
        paragraphs = [p for d in documents for p in d.paragraphs]
        report = BuildReport(len(articles), len(paragraphs), full_rebuild=full, warnings=warnings,
                             formats=format_summary(documents, warnings))
        if (not full and old.get("files") == files and old.get("parser") == parser
                and not self._vectors_lost(old, previous)):
            report.chunks = old.get("counts", {}).get("chunks", 0)
            report.seconds = time.perf_counter() - started
            return report

        indexed = [self._indexed(document, previous, vocabulary) for document in documents]
        chunks = [chunk for item in indexed for chunk in item.chunks]
        report.chunks = len(chunks)

        # The paragraph table, keyword index and names first: their arrays are freed before Chroma's vector
        # index grows in this process (at 100k paragraphs the two together were most of the build's peak).
        generation = self._owned_folder("gen")
        switched = False
        try:
            self._write_generation(self.root / generation, indexed, vocabulary)
            self._write_names(self.root / generation, indexed, previous)
            # Tagged as the answerer reads them, in Simplified characters.
            passage_features.write(self.root / generation, (simplified(p.text) for p in paragraphs),
                                   self._live_generation(old))
            for item in indexed:  # written: what is left is what the vectors need
                item.release()
            _return_freed_memory()
            target = self._target(old, full)
            collection = self._open_vectors(target, create=True)
        except BaseException:
            shutil.rmtree(self.root / generation, ignore_errors=True)
            raise
        try:
            article_of = {p.id: p.article_id for p in paragraphs}
            wanted: dict[str, int] = {}  # chunk id → index of its first occurrence
            for i, chunk in enumerate(chunks):
                wanted.setdefault(chunk.id, i)
            existing: dict[str, str | None] = {}  # chunk id → the document id it is stored under
            if target.get("resumed"):
                existing = {i: m.get("article_id") for i, m in collection.metadata().items()}
            elif not full:
                # The live table says what the collection holds and under which document: reading every
                # vector's metadata instead cost most of an update (9 s of 15k chunks). Chroma is asked only
                # about chunks the table does not list, which an interrupted update may have stored.
                live = ({chunk_id: article_id for stored in previous.values()
                         for chunk_id, article_id in stored.chunk_articles()}
                        if previous else self._live_chunk_articles(old))
                existing = {c: live[c] for c in wanted if c in live}
                unlisted = [c for c in wanted if c not in live]
                existing.update({i: m.get("article_id") for i, m in collection.metadata(unlisted).items()})
                # Fewer vectors than the table lists: some were lost under it (the Chroma file removed or
                # emptied). Those the store no longer holds are embedded again, so table and store agree.
                if collection.count() < len(set(live)):
                    held = collection.metadata(list(existing))
                    lost = [c for c in existing if c not in held]
                    for chunk_id in lost:
                        del existing[chunk_id]
                    if lost:
                        report.warnings.append(
                            f"the vector store had lost {len(lost)} of the {len(set(live))} stored vectors (its "
                            f"files removed or emptied?); they were embedded again")
            todo = [i for chunk_id, i in wanted.items() if chunk_id not in existing]
            self._relabel(collection, chunks, article_of, wanted, existing)

            embed_started = time.perf_counter()
            if todo and embed_model is None:
                embed_model = make_embedding(self.settings.embed_model, self.settings)
            embed_texts = _EmbedTexts(articles, paragraphs, chunks)
            self._embed_and_store(collection, chunks, embed_texts, article_of, todo, progress, show_bar,
                                  embed_model)
            report.embedded = len(todo)
            report.embed_seconds = time.perf_counter() - embed_started

            manifest = {
                "format": FORMAT_VERSION,
                "embed_model": self.settings.embed_model,
                "chroma": self.vector_backend.location,
                "collection": target["collection"],
                "generation": generation,
                "parser": parser,
                "files": files,
                "counts": {"articles": len(articles), "paragraphs": len(paragraphs), "chunks": len(chunks)},
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            if target.get("chroma_dir"):
                manifest["chroma_dir"] = target["chroma_dir"]
            tmp = self.root / f".{MANIFEST}.tmp"
            tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
            os.replace(tmp, self.root / MANIFEST)  # the switch-over: atomic on one file system
            switched = True
            with contextlib.suppress(OSError):
                (self.root / PENDING).unlink()

            report.removed = self._clean_up(old, manifest, collection, set(wanted))
        finally:
            collection.close()
            if not switched:  # stopped before the switch-over: the new generation is of no use
                shutil.rmtree(self.root / generation, ignore_errors=True)
        report.seconds = time.perf_counter() - started
        return report

    def _indexed(self, document: Document, previous: dict[str, _StoredDocument], vocabulary: _Vocabulary
                 ) -> _IndexedDocument:
        """A document's chunks and keyword tokens: an unchanged file's as stored; a changed one's made
        again, tokenising only text the file's previous version did not hold."""
        stored = previous.get(document.source)
        if stored is not None and stored.document is document:
            return _IndexedDocument(document, stored.chunks(), stored.keys, stored.token_ids, stored.lengths,
                                    stored.record["names"], stored.record["tags"], stored.rows)
        known = _previous_version(previous, document)
        known_tokens = known.tokens_by_key(vocabulary.tokens) if known else {}
        by_article = {a.id: a for a in document.articles}
        chunks, keys, token_lists = [], [], []
        for paragraph in document.paragraphs:
            article = by_article[paragraph.article_id]
            context, keywords = context_line(article, paragraph), keyword_context(article, paragraph)
            for part in chunk_paragraph(paragraph):
                # The id hashes what is embedded and nothing else: a renamed or moved file costs no
                # embedding, and the same text twice is one vector.
                chunks.append(Chunk(stable_id(f"{context}\n{part.text}"), paragraph.id, part.text))
                keyword_text = f"{keywords} {part.text}"
                key = stable_id(keyword_text)
                keys.append(key)
                found = known_tokens.get(key)
                token_lists.append(found if found is not None else _keyword_tokens(keywords, part.text))
        return _IndexedDocument(document, chunks, np.array(keys, dtype=KEY_DTYPE),
                                vocabulary.ids(token_lists), np.fromiter(map(len, token_lists), np.int64, len(chunks)),
                                None, known.record["tags"] if known else {})

    def _vectors_lost(self, old: dict, previous: dict[str, _StoredDocument]) -> bool:
        """Whether the live collection holds fewer vectors than the live table lists (a store that cannot be
        opened says so itself, with its own message)."""
        live = ({chunk_id for stored in previous.values() for chunk_id, _ in stored.chunk_articles()}
                if previous else set(self._live_chunk_articles(old)))
        if self.vector_backend.uses_folder and not (self.root / str(old.get("chroma_dir"))).is_dir():
            return True
        collection = self._open_vectors(old, create=True)
        try:
            return collection.count() < len(live)
        finally:
            collection.close()

    def _target(self, old: dict | None, full: bool) -> dict:
        """Where the vectors go: the live collection for an update; for a full build, a new folder and
        collection, or those of an interrupted full build of the same model and store, to resume it."""
        if not full:
            target = {key: old[key] for key in ("collection", "chroma_dir") if key in old}
            if self.vector_backend.uses_folder:
                folder = self._inside(target.get("chroma_dir"), _CHROMA_DIR)
                if not folder.is_dir():  # removed: made again, ours, and its vectors embedded again
                    folder.mkdir()
                    (folder / OWNED).write_text("", encoding="utf-8")
            return target
        pending = self._pending()
        if pending:
            return {**pending, "resumed": True}
        target = {"collection": f"qa-{uuid.uuid4().hex[:12]}",
                  "embed_model": self.settings.embed_model, "chroma": self.vector_backend.location}
        if self.vector_backend.uses_folder:
            target["chroma_dir"] = self._owned_folder("chroma")
        tmp = self.root / f"{PENDING}.tmp"
        tmp.write_text(json.dumps(target), encoding="utf-8")
        os.replace(tmp, self.root / PENDING)
        return target

    def _pending(self) -> dict | None:
        """The interrupted full build to resume, if it was of this model and store and is still whole."""
        try:
            pending = json.loads((self.root / PENDING).read_text(encoding="utf-8"))
            if (pending.get("embed_model") != self.settings.embed_model
                    or pending.get("chroma") != self.vector_backend.location):
                return None
            if not COLLECTION_NAME.fullmatch(str(pending.get("collection"))):
                return None
            if self.vector_backend.uses_folder:
                if not (self._inside(pending.get("chroma_dir"), _CHROMA_DIR) / OWNED).exists():
                    return None
                self._open_vectors(pending, create=False).close()
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
            collection.update_metadata(part, metadatas)

    def _embed_and_store(self, collection, chunks, embed_texts, article_of, todo, progress, show_bar, embed_model):
        """Embed the chunks at `todo` (their texts made batch by batch: all at once were 130 MiB at 100k
        paragraphs) and store their vectors in large batches: 16 vectors a write cost 6x more than 1,024."""
        pending_ids: list[str] = []
        pending_vectors: list[np.ndarray] = []
        pending_metadata: list[dict] = []
        stored_at = time.monotonic()
        bar = tqdm(total=len(todo), desc="embedding", unit="chunk", file=sys.stderr, disable=not show_bar)
        # an embedding server takes more texts a call, to keep several requests in flight
        batch = max(EMBED_BATCH, embed_model.embed_batch_size if embed_model is not None else 0)
        for start in range(0, len(todo), batch):
            part = todo[start : start + batch]
            vectors = embed_model.get_text_embedding_batch([embed_texts[i] for i in part])
            if len(vectors) != len(part):
                raise ValueError(f"the embedding model returned {len(vectors)} vectors for {len(part)} texts")
            pending_vectors.append(np.asarray(vectors, dtype=np.float32))
            pending_ids += [chunks[i].id for i in part]
            pending_metadata += [{"paragraph_id": chunks[i].paragraph_id,
                                  "article_id": article_of[chunks[i].paragraph_id]} for i in part]
            if (len(pending_ids) >= STORE_BATCH or start + batch >= len(todo)
                    or time.monotonic() - stored_at >= STORE_SECONDS):
                collection.add_vectors(pending_ids, np.concatenate(pending_vectors), pending_metadata)
                pending_ids, pending_vectors, pending_metadata, stored_at = [], [], [], time.monotonic()
            bar.update(len(part))
            if progress:
                progress(min(start + batch, len(todo)), len(todo), "embedding")
        bar.close()

    def _live_chunk_articles(self, manifest: dict) -> dict[str, str]:
        """Chunk id → document id, from the live generation's table; empty if it cannot be read."""
        try:
            table = json.loads((self._inside(manifest.get("generation"), _GENERATION) / "corpus.json")
                               .read_text(encoding="utf-8"))
            article_of = {p["id"]: p["article_id"] for p in table["paragraphs"]}
            return {c["id"]: article_of[c["paragraph_id"]] for c in table["chunks"]}
        except (OSError, ValueError, KeyError, TypeError, IndexUnavailable):
            return {}

    def _write_generation(self, folder: Path, indexed: list[_IndexedDocument], vocabulary: _Vocabulary) -> None:
        """The paragraph table, the keyword tokens and the BM25 index, all in corpus order."""
        # An unchanged file's rows are written as they were read; vars(), not asdict(), for the others:
        # asdict deep-copies every field (2.5 s of a 10k-paragraph update).
        # Written file by file, the same bytes orjson.dumps gives for the whole table, without holding them all
        # (130 MiB at 100k paragraphs, beside orjson's own growing buffer).
        with open(folder / "corpus.json", "wb") as file:
            for n, part in enumerate(("articles", "paragraphs", "chunks")):
                file.write(b'{"' if n == 0 else b'],"')
                file.write(part.encode() + b'":[')
                written = False
                for item in indexed:
                    if item.rows:
                        rows = item.rows[part]
                    else:
                        rows = [vars(row) for row in {"articles": item.document.articles,
                                                      "paragraphs": item.document.paragraphs,
                                                      "chunks": item.chunks}[part]]
                    if rows:
                        file.write(b"," if written else b"")
                        file.write(orjson.dumps(rows)[1:-1])
                        written = True
            file.write(b"]}")
        token_ids = np.concatenate([item.token_ids for item in indexed])
        lengths = np.concatenate([item.lengths for item in indexed])
        bm25, token_ids, vocabulary_used = keyword_index_of_ids(token_ids, lengths, vocabulary.tokens)
        with open(folder / TOKENS, "wb") as file:
            np.savez(file, ids=token_ids, lengths=lengths, keys=np.concatenate([item.keys for item in indexed]),
                     vocabulary=np.array(vocabulary_used, dtype=str))
        bm25.save(str(folder / "bm25"), show_progress=False)

    def _live_generation(self, manifest: dict | None) -> Path | None:
        """The folder of the generation a manifest names, if it is ours and there."""
        try:
            return self._inside((manifest or {}).get("generation"), _GENERATION)
        except IndexUnavailable:
            return None

    def _stored_documents(self, manifest: dict, reuse_parsed: bool) -> tuple[dict[str, _StoredDocument], _Vocabulary]:
        """The live generation's files by source: their rows, tokens and names, to reuse what has not
        changed (their parse too when `reuse_parsed`), and its keyword vocabulary; nothing when the generation
        predates documents.json or cannot be read, and the update then parses and tokenises every file."""
        try:
            folder = self._inside(manifest.get("generation"), _GENERATION)
            records = orjson.loads((folder / DOCUMENTS).read_bytes())["documents"]
            table = orjson.loads((folder / "corpus.json").read_bytes())
            with np.load(folder / TOKENS, allow_pickle=False) as stored:
                token_ids, lengths, keys = stored["ids"], stored["lengths"], stored["keys"]
                vocabulary = _Vocabulary(stored["vocabulary"].tolist())
            token_starts = np.concatenate(([0], np.cumsum(lengths)))
            found: dict[str, _StoredDocument] = {}
            at = {"articles": 0, "paragraphs": 0, "chunks": 0}
            for record in records:
                rows = {}
                for part in at:
                    rows[part] = table[part][at[part] : at[part] + record[part]]
                    at[part] += record[part]
                begin, end = at["chunks"] - record["chunks"], at["chunks"]
                found[record["source"]] = _StoredDocument(
                    record, rows, keys[begin:end], token_ids[token_starts[begin] : token_starts[end]],
                    lengths[begin:end], reuse_parsed)
            if (any(at[part] != len(table[part]) for part in at) or len(keys) != at["chunks"]
                    or len(lengths) != at["chunks"] or token_starts[-1] != len(token_ids)):
                return {}, _Vocabulary([])
            return found, vocabulary
        except (OSError, ValueError, KeyError, TypeError, IndexUnavailable):  # orjson's error is a ValueError
            return {}, _Vocabulary([])

    def _write_names(self, folder: Path, indexed: list[_IndexedDocument], previous: dict[str, _StoredDocument]
                     ) -> None:
        """The name index, from the names found in each file: a changed file is tagged again (only text its
        previous version did not hold), and only names the previous index did not hold get aliases derived."""
        for item in indexed:
            if item.names is not None:
                continue
            known, used = item.tags, {}

            def tag(text: str, guess_unknown: bool = True, known=known, used=used) -> list[tuple[str, str]]:
                key = stable_id(f"{int(guess_unknown)}:{text}")
                found = known.get(key)
                if found is None:
                    found = [list(pair) for pair in tagged_names(text, guess_unknown)]
                used[key] = found
                return [(word, kind) for word, kind in found]

            item.names = names_found(item.document.articles, item.document.paragraphs, tag=tag)
            # kept as the JSON it is written as: a file's tags are many small lists, freed at once
            item.tags = orjson.Fragment(orjson.dumps(used))
        known_aliases: dict[str, list[str]] = {}
        for stored in previous.values():
            known_aliases.update(stored.record.get("aliases", {}))
        derived: dict[str, list[str]] = {}

        def alias_keys(name: str, kind: str) -> list[str]:
            key = f"{kind}\t{name}"
            found = derived.get(key) or known_aliases.get(key)
            if found is None:
                found = matching_aliases(name, kind)
            derived[key] = found
            return found

        NameIndex.from_found((item.names for item in indexed), alias_keys).save(folder)
        records = []
        for item in indexed:
            document = item.document
            own = {f"{kind}\t{name}" for part in item.names.values() for name, kind, _ in part}
            records.append({
                "source": document.source, "sha256": document.sha256, "layout": document.layout,
                "notes": list(document.notes), "found": list(document.found), "articles": len(document.articles),
                "paragraphs": len(document.paragraphs), "chunks": len(item.chunks),
                "names": item.names, "tags": item.tags, "aliases": {key: derived[key] for key in own},
            })
        (folder / DOCUMENTS).write_bytes(orjson.dumps({"documents": records}))

    def _clean_up(self, old: dict | None, new: dict, collection: VectorCollection, live_ids: set[str]) -> int:
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
        # A store without folders keeps the old collection until it is dropped (not on a store we no longer use).
        if (not self.vector_backend.uses_folder and old and old.get("collection") != new["collection"]
                and old.get("chroma") == new["chroma"]):
            with contextlib.suppress(Exception):
                self.vector_backend.drop(old.get("collection"))
        if old is None or old.get("collection") != new["collection"]:
            return 0
        stale = [i for i in collection.ids() if i not in live_ids]
        if stale:
            collection.delete(stale)
        return len(stale)


def keyword_index(token_lists: list[list[str]]) -> bm25s.BM25:
    """bm25s's Lucene BM25 over the chunks' tokens (see keyword_index_of_ids)."""
    vocabulary = _Vocabulary([])
    token_ids = vocabulary.ids(token_lists)
    lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
    return keyword_index_of_ids(token_ids, lengths, vocabulary.tokens)[0]


def keyword_index_of_ids(token_ids: np.ndarray, lengths: np.ndarray, vocabulary: list[str]
                         ) -> tuple[bm25s.BM25, np.ndarray, list[str]]:
    """bm25s's Lucene BM25 over the chunks' tokens, given as ids into `vocabulary` and each chunk's count, its
    scores computed in numpy arrays: bm25s computes them chunk by chunk in Python (1.8 s of a 10k-paragraph
    update), and every update needs them all again (a changed chunk changes the average length and the
    document frequencies). Loaded by bm25s as its own. Also gives the ids and the vocabulary without the
    tokens no chunk holds any more (a deleted file's)."""
    bm25 = bm25s.BM25()  # Lucene scoring, bm25s's default
    used = np.bincount(token_ids, minlength=len(vocabulary)) > 0
    token_ids = ((np.cumsum(used) - 1).astype(np.int32)[token_ids] if len(token_ids)
                 else np.asarray(token_ids, dtype=np.int32))
    vocab = {token: i for i, token in enumerate(t for t, keep in zip(vocabulary, used, strict=True) if keep)}
    tokens_kept = list(vocab)
    documents = len(lengths)
    # bm25s's column-major layout: per token, the rows holding it (ascending) and their scores. Made a block
    # of rows at a time, twice (the document frequencies first, then each entry put in its place by a
    # counting sort), so that besides the input only the two output arrays grow with the corpus: sorting all
    # (token, row) pairs at once held 900 MiB at 100k paragraphs (13M tokens).
    frequencies = np.zeros(len(vocab), dtype=np.int64)
    for columns, _rows, _counts in _token_rows(token_ids, lengths):
        frequencies += np.bincount(columns, minlength=len(vocab))
    idf = np.log(1 + (documents - frequencies + 0.5) / (frequencies + 0.5)).astype(bm25.dtype)
    average = max(lengths.mean(), 1e-9) if documents else 1e-9
    indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
    np.cumsum(frequencies, out=indptr[1:])
    data = np.empty(indptr[-1], dtype=bm25.dtype)
    indices = np.empty(indptr[-1], dtype=bm25.int_dtype)
    filled = indptr[:-1].copy()  # where each token's next entry goes
    for columns, rows, counts in _token_rows(token_ids, lengths):
        # the block's entries are sorted by token, then row: each one's rank among its token's
        run_starts = np.flatnonzero(np.concatenate(([True], columns[1:] != columns[:-1])))
        run_lengths = np.diff(run_starts, append=len(columns))
        places = filled[columns] + (np.arange(len(columns)) - np.repeat(run_starts, run_lengths))
        filled[columns[run_starts]] += run_lengths
        tf = counts.astype(bm25.dtype)
        length_norm = bm25.k1 * ((1 - bm25.b) + bm25.b * lengths[rows] / average)
        data[places] = idf[columns] * (tf / (length_norm + tf))
        indices[places] = rows
    bm25.scores = {"data": data, "indices": indices, "indptr": indptr, "num_docs": documents}
    vocab.setdefault("", len(vocab))  # bm25s's empty token
    bm25.vocab_dict = vocab
    bm25.unique_token_ids_set = set(vocab.values())
    bm25.nonoccurrence_array = None
    return bm25, token_ids, tokens_kept


@dataclass
class _StoredDocument:
    """One file as the live generation holds it (see DOCUMENTS)."""

    record: dict
    rows: dict[str, list[dict]]  # its articles, paragraphs and chunks as corpus.json holds them
    keys: np.ndarray  # its chunks' keyword-text hashes
    token_ids: np.ndarray  # their keyword tokens, ids into the stored vocabulary, chunk after chunk
    lengths: np.ndarray  # how many tokens each chunk has
    reuse_parsed: bool  # parsed by this version of the parser, with this paragraph bound
    _document: Document | None = None

    @property
    def document(self) -> Document | None:
        """The parsed document, made once from the stored rows (None: it must be parsed again)."""
        if self._document is None and self.reuse_parsed:
            self._document = Document(
                self.record["source"], self.record["sha256"],
                [Article(**a) for a in self.rows["articles"]], [Paragraph(**p) for p in self.rows["paragraphs"]],
                self.record["layout"], tuple(self.record["notes"]), tuple(self.record.get("found", ())))
        return self._document

    def chunks(self) -> list[Chunk]:
        return [Chunk(**c) for c in self.rows["chunks"]]

    def tokens_by_key(self, vocabulary: list[str]) -> dict[str, list[str]]:
        """Its chunks' keyword tokens by the hash of their text."""
        starts = np.concatenate(([0], np.cumsum(self.lengths)))
        return {key.decode(): [vocabulary[i] for i in self.token_ids[starts[n] : starts[n + 1]]]
                for n, key in enumerate(self.keys.tolist())}

    def chunk_articles(self) -> Iterator[tuple[str, str]]:
        """Each chunk id with the id of its document."""
        article_of = {p["id"]: p["article_id"] for p in self.rows["paragraphs"]}
        for chunk in self.rows["chunks"]:
            yield chunk["id"], article_of[chunk["paragraph_id"]]


@dataclass
class _IndexedDocument:
    """One file of the build: its chunks, their keyword tokens and the names found in it."""

    document: Document
    chunks: list[Chunk]
    keys: np.ndarray  # as in _StoredDocument
    token_ids: np.ndarray
    lengths: np.ndarray
    names: dict | None  # None until found (see names_found)
    tags: dict[str, list]  # name tags by text hash: the stored file's, or those of its previous version
    rows: dict[str, list[dict]] | None = None  # an unchanged file's rows, written as they were read

    def release(self) -> None:
        """Drop what the generation's files now hold (tokens, names, rows); the chunks stay for the vectors."""
        self.keys = self.token_ids = self.lengths = None
        self.names, self.tags, self.rows = None, {}, None


KEY_DTYPE = "S16"  # a stable_id


ROW_BLOCK = 2048  # chunks a block of the BM25 build takes (about 175,000 tokens, 20 MiB of work arrays)


def _token_rows(token_ids: np.ndarray, lengths: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per block of ROW_BLOCK chunks: each distinct (token, row) pair of the block, sorted by token then
    row, as the token ids, the rows and how often the token occurs in the row."""
    documents = len(lengths)
    ends = np.cumsum(lengths)
    for first in range(0, documents, ROW_BLOCK):
        last = min(first + ROW_BLOCK, documents)
        begin = int(ends[first - 1]) if first else 0
        pairs = token_ids[begin : int(ends[last - 1])].astype(np.int64)
        pairs *= documents
        pairs += np.repeat(np.arange(first, last, dtype=np.int64), lengths[first:last])
        pairs.sort()
        if not len(pairs):
            continue
        starts = np.flatnonzero(np.concatenate(([True], pairs[1:] != pairs[:-1])))
        columns, rows = np.divmod(pairs[starts], documents)
        yield columns, rows, np.diff(starts, append=len(pairs))


class _Vocabulary:
    """Keyword tokens and their ids: the stored generation's, then those new text brings."""

    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self._ids = {token: i for i, token in enumerate(tokens)}

    def ids(self, token_lists: list[list[str]]) -> np.ndarray:
        """The chunks' tokens as ids, one array, chunk after chunk; a new token gets the next id."""
        found = []
        for chunk in token_lists:
            for token in chunk:
                i = self._ids.get(token)
                if i is None:
                    i = self._ids[token] = len(self.tokens)
                    self.tokens.append(token)
                found.append(i)
        return np.array(found, dtype=np.int32)


def _keyword_tokens(keywords: str, text: str) -> list[str]:
    """tokens(f"{keywords} {text}"), with the context's tokens cached: every chunk of an article carries the
    same context, and tokenising it again for each was 60% of tokenising a generated corpus. The same list:
    jieba cuts the runs of word characters on either side of a space apart, and NFKC and lower-casing do not
    reach across a space."""
    return tokens(keywords) + tokens(text) if keywords else tokens(text)


def _parsed(previous: dict[str, _StoredDocument], source: str, sha256: str) -> Document | None:
    stored = previous.get(source)
    if stored is None or stored.record["sha256"] != sha256:
        return None
    return stored.document


def _previous_version(previous: dict[str, _StoredDocument], document: Document) -> _StoredDocument | None:
    """What the live index held for this file: under its name, or, for a renamed file, under its old name."""
    stored = previous.get(document.source)
    if stored is None:
        stored = next((s for s in previous.values() if s.record["sha256"] == document.sha256), None)
    return stored


class _EmbedTexts:
    """What is embedded for chunk number i: its context line, then its text (see Chunk ids); made when asked."""

    def __init__(self, articles: list[Article], paragraphs: list[Paragraph], chunks: list[Chunk]):
        self._articles = {a.id: a for a in articles}
        self._paragraphs = {p.id: p for p in paragraphs}
        self._chunks = chunks

    def __getitem__(self, i: int) -> str:
        chunk = self._chunks[i]
        paragraph = self._paragraphs[chunk.paragraph_id]
        return f"{context_line(self._articles[paragraph.article_id], paragraph)}\n{chunk.text}"
