"""Hybrid retrieval: BM25 on jieba tokens and dense vectors from Chroma, fused per paragraph."""

from __future__ import annotations

from dataclasses import dataclass

from .names import NameIndex, names_of
from .question import Question
from .store import LoadedIndex
from .text import content_tokens
from .types import SECTION_SEPARATOR, Passage

MODES = ("hybrid", "bm25", "dense")
# Weight of the keyword side in the fused score, chosen on eval/questions.jsonl (see README):
# on Chinese questions BM25 alone is already strong, and plain rank fusion lost to it.
BM25_WEIGHT = 0.6
# Added to paragraphs of an article the question names (its title, a metadata value, a rare name): a
# question about one thing should be answered from that thing's article, or not at all.
NAMED_ARTICLE_BOOST = 0.25


@dataclass
class Hit:
    paragraph_id: str
    bm25: float = 0.0
    dense: float = 0.0
    score: float = 0.0


def allowed_articles(filters: dict | None, index: LoadedIndex) -> list[str] | None:
    """Article ids a filter allows: {"article_id": [...]} and/or {"district": [...]}; None = all."""
    if not filters:
        return None
    unknown = set(filters) - {"article_id", "district"}
    if unknown:
        raise ValueError(f"unknown filter {', '.join(sorted(unknown))}: use article_id and/or district")
    return index.articles_matching(_as_list(filters.get("article_id")), _as_list(filters.get("district")))


def _as_list(value) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


class Retriever:
    def __init__(self, index: LoadedIndex, embed_model):
        self.index = index
        self.embed_model = embed_model
        self.article_list = list(index.articles.values())
        self.names: NameIndex = names_of(index)

    def search(self, question: str | Question, k: int = 5, filters: dict | None = None,
               mode: str = "hybrid") -> list[Passage]:
        return [self.passage(hit) for hit in self.hits(question, k, filters, mode)]

    def hits(self, question: str | Question, k: int = 5, filters: dict | None = None,
             mode: str = "hybrid") -> list[Hit]:
        """`question` is an analysed Question (its standalone text and named entities are used) or text."""
        keywords: list[str] = []
        analysed = question if isinstance(question, Question) else None
        if analysed is not None:
            text, mentions, keywords = analysed.standalone, analysed.entities, analysed.keywords
        else:
            text, mentions = question, self.names.find(question)
        question = text
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode {mode!r}: use one of {', '.join(MODES)}")
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a whole number of passages, at least 1 (got {k!r})")
        allowed = allowed_articles(filters, self.index)
        if allowed is not None and not allowed:
            return []
        hits: dict[str, Hit] = {}
        depth = max(4 * k, 20)
        if mode in ("hybrid", "bm25"):
            # a filter scores its own articles' rows only, found by look-up, not by a mask over every chunk
            rows = None if allowed is None else self.index.rows_of_articles(allowed)
            # An English question over Chinese text searches by the Chinese words its analysis found for it.
            query = content_tokens(question) + [t for keyword in keywords for t in content_tokens(keyword)]
            top = self.index.bm25_top(query, depth, rows)
            best = top[0][1] if top else 0.0
            for row, score in top:
                paragraph_id = self.index.row_paragraph[row]
                hit = hits.setdefault(paragraph_id, Hit(paragraph_id))
                hit.bm25 = max(hit.bm25, score / best)
        if mode in ("hybrid", "dense"):
            # embedded once a question: the answerer reuses the vector from the analysed question
            if analysed is not None and analysed.query_embedding is not None:
                query_embedding = analysed.query_embedding
            else:
                query_embedding = self.embed_model.get_query_embedding(question)
                if analysed is not None:
                    analysed.query_embedding = query_embedding
            dense = self.index.dense(query_embedding, depth, allowed)
            if dense:
                top_score, floor = dense[0][1], dense[-1][1]
                spread = max(top_score - floor, 1e-6)
                for chunk_id, similarity in dense:
                    paragraph_id = self.index.chunks[chunk_id].paragraph_id
                    hit = hits.setdefault(paragraph_id, Hit(paragraph_id))
                    normalised = (similarity - floor) / spread if len(dense) > 1 else 1.0
                    hit.dense = max(hit.dense, normalised)
        has_keywords = any(h.bm25 > 0 for h in hits.values())
        weight = {"bm25": 1.0, "dense": 0.0}.get(mode, BM25_WEIGHT if has_keywords else 0.0)
        named = {i for m in mentions for i in m.article_ids} if mode == "hybrid" else set()
        for hit in hits.values():
            hit.score = weight * hit.bm25 + (1 - weight) * hit.dense
            if self.index.paragraphs[hit.paragraph_id].article_id in named:
                hit.score += NAMED_ARTICLE_BOOST
        ranked = sorted(hits.values(), key=lambda h: h.score, reverse=True)
        return [h for h in ranked if h.score > 0][:k]

    def passage(self, hit: Hit) -> Passage:
        paragraph = self.index.paragraphs[hit.paragraph_id]
        article = self.index.articles[paragraph.article_id]
        return Passage(
            text=paragraph.text,
            title=article.title,
            district=article.district,
            paragraph=paragraph.number,
            paragraph_id=paragraph.id,
            score=round(hit.score, 4),
            interviewee=article.interviewee,
            article_id=article.id,
            source=article.source,
            section=SECTION_SEPARATOR.join(paragraph.section),
            metadata=dict(article.metadata),
            page=paragraph.page,
            row=paragraph.row,
        )


def chunk_similarities(index: LoadedIndex, query_embedding,
                       paragraph_ids: list[str]) -> dict[str, list[tuple[str, float]]]:
    """Each paragraph's chunks as (text, similarity to the query), from the vectors stored at build time: how
    close each part of a retrieved paragraph is to the question in meaning, with nothing embedded. Costs the
    paragraphs' articles' own rows and one read of their stored vectors (cached by the index)."""
    wanted = set(paragraph_ids)
    article_ids = {index.paragraphs[p].article_id for p in wanted if p in index.paragraphs}
    chunk_ids = [index.chunk_ids[row] for row in index.rows_of_articles(article_ids)
                 if index.row_paragraph[row] in wanted]
    found: dict[str, list[tuple[str, float]]] = {p: [] for p in wanted}
    if not chunk_ids:
        return found
    for chunk_id, similarity in index.exact_dense(query_embedding, len(chunk_ids), chunk_ids):
        chunk = index.chunks[chunk_id]
        found[chunk.paragraph_id].append((chunk.text, similarity))
    return found
