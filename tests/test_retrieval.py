"""Hybrid retrieval over the shipped corpus: Chinese and English questions, context, filters, whole paragraphs."""

from __future__ import annotations

import pytest


def test_a_chinese_question_finds_its_paragraph_first(engine):
    passages = engine.retrieve("新城区今年要推进多少个区级重点项目？", k=5)
    assert "全年实施128个区级重点项目建设" in passages[0].text
    assert passages[0].district == "新城区" and passages[0].paragraph == 2


@pytest.mark.parametrize(
    "question, evidence",
    [
        ("How many district-level key projects will Xincheng District carry out this year?", "128个区级重点项目"),
        ("What total computing power scale is planned in the Horinger New Area?", "15000P"),
        ("How many infrastructure projects will the economic development zone carry out in 2024?", "基础设施项目47个"),
    ],
)
def test_an_english_question_finds_the_chinese_paragraph(engine, question, evidence):
    passages = engine.retrieve(question, k=5)
    assert any(evidence in p.text for p in passages[:3])


def test_article_context_finds_a_paragraph_that_never_names_its_district(engine):
    passages = engine.retrieve("新城区促进消费要引进什么样的店？", k=3)
    assert "引进品牌首店、旗舰店" in passages[0].text
    assert "新城区" not in passages[0].text  # found through its article's context


def test_results_are_distinct_whole_paragraphs(engine):
    passages = engine.retrieve("赛罕区 青年社区 养老服务中心 商圈", k=5)
    assert len({p.paragraph_id for p in passages}) == len(passages) == 5
    saihan = next(p for p in passages if "青年社区" in p.text)
    paragraphs = {p.text for p in engine.store.load().paragraphs.values()}
    assert saihan.text in paragraphs and saihan.text.endswith("。")  # a whole paragraph, not a chunk
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)


def test_a_filter_restricts_the_search_to_chosen_articles(engine):
    yuquan = next(a for a in engine.articles() if a.district == "玉泉区")
    passages = engine.retrieve("重点项目", k=5, filters={"article_id": [yuquan.id]})
    assert passages and all(p.district == "玉泉区" for p in passages)
    by_district = engine.retrieve("重点项目", k=5, filters={"district": ["经开区"]})
    assert by_district and all(p.district == "呼和浩特经济技术开发区" for p in by_district)
    assert engine.retrieve("重点项目", k=5, filters={"district": ["不存在的区"]}) == []


def test_keyword_and_dense_sides_each_work_alone(engine):
    bm25 = engine.retrieve("全年新签约项目", k=3, mode="bm25")
    dense = engine.retrieve("电子信息产业全年计划新签约多少个项目？", k=5, mode="dense")
    assert "全年新签约项目100个" in bm25[0].text
    assert any("全年新签约项目100个" in p.text for p in dense)
    assert engine.retrieve("How many new projects will be signed?", k=3, mode="bm25") == []


def test_qa_retrieve_keeps_working_after_the_engine_is_loaded(engine):
    import qa

    first = qa.retrieve("玉泉区 高标准农田", k=3)
    qa.ask("玉泉区要建设多少亩高标准农田？")
    again = qa.retrieve("玉泉区 高标准农田", k=3)
    assert [p.paragraph_id for p in first] == [p.paragraph_id for p in again]
    assert "2.7万亩高标准农田" in first[0].text


@pytest.mark.parametrize("k", [0, -1])
def test_k_must_be_at_least_one(engine, k):
    with pytest.raises(ValueError, match="k"):
        engine.retrieve("重点项目", k=k)


def test_an_unknown_filter_key_is_an_error_not_an_empty_result(engine):
    with pytest.raises(ValueError, match="distrct"):
        engine.retrieve("重点项目", filters={"distrct": ["玉泉区"]})


@pytest.fixture(scope="module")
def many_articles(tmp_path_factory):
    """Every paragraph of the shipped page as a document of its own: a corpus of many small articles,
    indexed with a real (fast) model."""
    from conftest import SHIPPED_DATA
    from test_store import FAST_MODEL

    from qa.config import Settings
    from qa.corpus import load_corpus
    from qa.engine import Engine

    documents, _ = load_corpus(SHIPPED_DATA)
    data = tmp_path_factory.mktemp("many-articles")
    for number, paragraph in enumerate((p for d in documents for p in d.paragraphs), start=1):
        (data / f"note-{number:03d}.md").write_text(f"# 笔记{number}\n\n{paragraph.text}\n", encoding="utf-8")
    engine = Engine(Settings(data_dir=data, index_dir=tmp_path_factory.mktemp("many-index"), embed_model=FAST_MODEL))
    engine.build_index(show_bar=False)
    retriever, _ = engine._ready()
    assert len(retriever.index.articles) > 20
    return engine, retriever.index


@pytest.mark.parametrize("exact", [True, False], ids=["own-vectors", "chroma-by-ids"])
def test_a_filtered_vector_search_finds_what_chromas_filtered_query_finds(many_articles, monkeypatch, exact):
    """Among many articles, a filter to a few is searched over their own chunks (exactly, or by Chroma
    restricted to their ids): the same chunks, order and similarities as Chroma's own `where` query."""
    from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters, VectorStoreQuery

    from qa import store

    engine, index = many_articles
    if not exact:
        monkeypatch.setattr(store, "EXACT_SEARCH_MAX_CHUNKS", 0)
    query = engine._embed_model.get_query_embedding("今年要推进多少个重点项目？")
    articles = list(index.articles)
    for chosen in (articles[:1], articles[3:6], articles[::4]):
        where = MetadataFilters(filters=[MetadataFilter(key="article_id", value=chosen, operator=FilterOperator.IN)])
        expected = index.vector_store.query(VectorStoreQuery(query_embedding=query, similarity_top_k=5, filters=where))
        found = index.dense(query, 5, chosen)
        assert [chunk_id for chunk_id, _ in found] == expected.ids
        assert [score for _, score in found] == pytest.approx(expected.similarities, abs=1e-4)
        assert {index.paragraphs[index.chunks[c].paragraph_id].article_id for c, _ in found} <= set(chosen)
    unfiltered = index.vector_store.query(VectorStoreQuery(query_embedding=query, similarity_top_k=5))
    assert [chunk_id for chunk_id, _ in index.dense(query, 5)] == unfiltered.ids


def test_a_filtered_question_over_many_articles_answers_from_those_articles_only(many_articles):
    engine, index = many_articles
    titles = {a.id: a.title for a in index.articles.values()}
    chosen = list(titles)[5:8]
    passages = engine.retrieve("全年实施多少个重点项目？", k=5, filters={"article_id": chosen})
    assert passages and {p.article_id for p in passages} <= set(chosen)
    answer = engine.ask("全年实施多少个重点项目？", filters={"article_id": chosen})
    allowed_paragraphs = {p.id for p in index.paragraphs.values() if p.article_id in chosen}
    assert all(c.paragraph_id in allowed_paragraphs for c in answer.citations)
    everywhere = engine.retrieve("全年实施多少个重点项目？", k=5)
    assert {p.article_id for p in everywhere} - set(chosen)  # without the filter, other articles answer


@pytest.mark.parametrize("question", ["How many district-level key projects will Xincheng carry out this year?",
                                      "新城区今年要推进多少个区级重点项目？"])
def test_a_question_is_embedded_once_for_retrieval_and_answer(engine, monkeypatch, question):
    engine.ask("预热")  # loads the index and the model
    model_class = type(engine._embed_model)
    original = model_class._get_query_embedding
    embedded: list[str] = []
    monkeypatch.setattr(model_class, "_get_query_embedding",
                        lambda self, text: embedded.append(text) or original(self, text))
    answer = engine.ask(question)
    assert "128" in answer.text
    assert len(embedded) == 1
