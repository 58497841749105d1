"""The answerer that needs no LLM: picks the sentences that answer, puts the key fact first, cites them,
and refuses when the retrieved text does not say what is asked."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from ..corpus import district_aliases
from ..retrieve import named_articles
from ..store import LoadedIndex
from ..text import NUMBER, content_tokens, is_chinese, normalise, split_sentences
from ..types import Answer, Article, Citation, Passage

REFUSAL_ZH = "文档中没有找到这个问题的答案。"
REFUSAL_EN = "The documents do not contain the answer to this question."

# Share of the question's (idf-weighted) terms the chosen text must contain, and, for questions with
# no Chinese terms to match, the least dense similarity: both calibrated on eval/questions.jsonl.
MIN_COVERAGE = 0.55
MIN_DENSE_SIMILARITY = 0.80
MAX_SENTENCES = 3

_WANTS_NUMBER = re.compile(r"多少|几[个家所项条亿万名]|几成|数量|规模|金额|比例|百分之|how (many|much)|what (number|percentage)|number of", re.I)
_WANTS_PERSON = re.compile(r"谁|哪位|姓名|名字|\bwho\b|\bwhose\b|\bname\b", re.I)
_WANTS_LIST = re.compile(r"哪些|有什么|包括|包含|what are|which .*(projects|industries|companies|areas)|list", re.I)
_META = re.compile(r"记者|采访|受访|职务|职位|担任|身份|标题|题目|interview|reporter|journalist|position|role|title|headline|byline", re.I)
_REPORTER = re.compile(r"记者|哪位记者|谁采访|采访者|who interviewed|reporter|journalist|byline", re.I)
_ROLE = re.compile(r"职务|职位|担任|身份|什么官|position|role|job|title of", re.I)
_HEADLINE = re.compile(r"标题|题目|headline", re.I)
_YEAR = re.compile(r"(?<!\d)(20\d\d|19\d\d)(?!\d)")
_FOLLOW_UP = re.compile(r"^(那么?|那|还有|and|what about|how about)|呢[？?]?$", re.I)
_CLAUSE = re.compile(r"[^，,；;：:。！？!?…]+[，,；;：:。！？!?…]*")
_QUANTITY = re.compile(r"\d+(?:[.,]\d+)*(?:\s*[%％])?(?!\d)(?!\s*年(?!度))|\d+(?:\.\d+)?\s*(?:万|亿)")
_UNIT_AFTER_NUMBER = re.compile(r"^\s*(万|亿)?\s*(个|家|所|项|亩|平方公里|元|万元|亿元|GW|P|吨|条|名|人|座|处|年|%|％)")


@dataclass
class Choice:
    sentence: str
    passage: Passage
    score: float
    covered: set[str] = field(default_factory=set)


def refusal(question: str) -> str:
    return REFUSAL_ZH if is_chinese(question) else REFUSAL_EN


def standalone_question(question: str, history: list[dict], articles: list[Article]) -> str:
    """Without an LLM, a follow-up such as "回民区呢？" becomes the previous question about 回民区."""
    previous = next((m["content"] for m in reversed(history) if m["role"] == "user"), "")
    if not previous or not _FOLLOW_UP.search(question.strip()):
        return question
    new_names = _names_in(question, articles)
    if not new_names:
        return question
    old_names = _names_in(previous, articles)
    rewritten = previous
    for old in old_names:
        rewritten = re.sub(re.escape(old), new_names[0], rewritten, flags=re.I)
    if rewritten == previous:
        rewritten = f"{new_names[0]} {previous}"
    return rewritten


def _names_in(text: str, articles: list[Article]) -> list[str]:
    """District names (any alias) and interviewees the text mentions, longest first."""
    found = []
    lowered = text.lower()
    for article in articles:
        for name in district_aliases(article.district) + ([article.interviewee] if article.interviewee else []):
            if name and name.lower() in lowered and name not in found:
                found.append(name)
    return sorted(found, key=len, reverse=True)


class ExtractiveAnswerer:
    def __init__(self, index: LoadedIndex, embed_model=None):
        self.index = index
        self.embed_model = embed_model
        self.articles = list(index.articles.values())
        vocabulary = index.bm25.vocab_dict
        indptr = np.asarray(index.bm25.scores["indptr"])
        self._document_frequency = {
            token: int(indptr[i + 1] - indptr[i]) for token, i in vocabulary.items() if i + 1 < len(indptr)
        }
        self._documents = max(int(index.bm25.scores.get("num_docs", len(index.chunk_ids))), 1)

    def idf(self, term: str) -> float:
        frequency = self._document_frequency.get(term, 0)
        return math.log(1 + (self._documents - frequency + 0.5) / (frequency + 0.5))

    def answer(self, question: str, passages: list[Passage]) -> Answer:
        if not passages:
            return Answer(question, refusal(question), False, passages=passages)
        if _META.search(question) and (meta := self._meta_answer(question, passages)):
            return meta
        terms = self._question_terms(question)
        if terms and is_chinese(question):
            choices = self._choose_by_terms(question, terms, passages)
        else:
            terms = {}
            choices = self._choose_by_meaning(question, passages)
        if not choices or not self._supported(question, terms, choices):
            return Answer(question, refusal(question), False, passages=passages)
        return self._compose(question, terms, choices, passages)

    # --- what the question asks ------------------------------------------------------------------
    def _question_terms(self, question: str) -> dict[str, float]:
        """Content terms with their idf; single Chinese characters carry too little to match on."""
        terms = {}
        chinese = is_chinese(question)
        for term in content_tokens(question):
            if len(term) == 1 and not term.isascii():
                continue
            if not chinese and term.isascii() and self._document_frequency.get(term, 0) == 0:
                continue  # an English word: the Chinese text cannot contain it
            terms[term] = self.idf(term)
        # jieba's search mode gives both "重点项目" and "重点", "项目": keep the parts only when the
        # whole is unknown, so a paraphrase still matches on its parts.
        for term in list(terms):
            parts = [t for t in terms if t != term and t in term]
            if parts and self._document_frequency.get(term, 0) > 0:
                for part in parts:
                    terms.pop(part, None)
        return terms

    # --- choosing sentences ------------------------------------------------------------------------
    def _context(self, passage: Passage) -> str:
        article = self.index.articles.get(passage.article_id)
        if not article:
            return ""
        return normalise(" ".join([*district_aliases(article.district), article.interviewee, article.role,
                                   article.title]))

    def _choose_by_terms(self, question: str, terms: dict[str, float], passages: list[Passage]) -> list[Choice]:
        total = sum(terms.values())
        wants_number = bool(_WANTS_NUMBER.search(question))
        named = set(named_articles(question, self.articles))
        candidates: list[Choice] = []
        top_score = max(p.score for p in passages) or 1.0
        for rank, passage in enumerate(passages):
            context = self._context(passage)
            for sentence in split_sentences(passage.text):
                text = normalise(sentence)
                covered = {t for t in terms if t in text}
                in_context = {t for t in terms if t not in covered and t in context}
                score = (sum(terms[t] for t in covered) + 0.6 * sum(terms[t] for t in in_context)) / total
                score += 0.15 * passage.score / top_score
                if wants_number:
                    score += 0.1 if _QUANTITY.search(sentence) else -0.3
                if named and passage.article_id not in named and not any(
                    normalise(n) in text for n in _names_in(question, self.articles)
                ):
                    score -= 0.5
                candidates.append(Choice(sentence, passage, score, covered | in_context))
        candidates.sort(key=lambda c: c.score, reverse=True)
        chosen = [candidates[0]]
        # A question whose parts sit in other sentences (or another district's interview) gets them too.
        missing = set(terms) - chosen[0].covered
        districts_needed = named - {chosen[0].passage.article_id}
        for candidate in candidates[1:]:
            if len(chosen) >= MAX_SENTENCES:
                break
            adds_terms = missing & candidate.covered
            adds_district = candidate.passage.article_id in districts_needed
            if (adds_terms and sum(terms[t] for t in adds_terms) / total >= 0.15) or (
                adds_district and candidate.score >= chosen[0].score * 0.6
            ):
                chosen.append(candidate)
                missing -= candidate.covered
                districts_needed.discard(candidate.passage.article_id)
        return chosen

    def _choose_by_meaning(self, question: str, passages: list[Passage]) -> list[Choice]:
        """For questions with no terms to match (English over Chinese): the most similar sentence."""
        if self.embed_model is None:
            return []
        named = set(named_articles(question, self.articles))
        pool = [p for p in passages if p.article_id in named] or passages
        sentences = [(s, p) for p in pool[:2] for s in split_sentences(p.text)]
        if not sentences:
            return []
        query = np.asarray(self.embed_model.get_query_embedding(question))
        vectors = np.asarray(self.embed_model.get_text_embedding_batch([s for s, _ in sentences]))
        similarity = vectors @ query
        wants_number = bool(_WANTS_NUMBER.search(question))
        order = np.argsort(-(similarity + np.array([0.02 if wants_number and _QUANTITY.search(s) else 0.0
                                                     for s, _ in sentences])))
        best = int(order[0])
        sentence, passage = sentences[best]
        return [Choice(sentence, passage, float(similarity[best]))]

    def _supported(self, question: str, terms: dict[str, float], choices: list[Choice]) -> bool:
        """Refuse rather than guess."""
        chosen_text = normalise("".join(c.sentence + c.passage.text for c in choices))
        context = "".join(self._context(c.passage) for c in choices)
        if _WANTS_NUMBER.search(question) and not any(_QUANTITY.search(c.sentence) for c in choices):
            return False
        for year in _YEAR.findall(question):
            if year not in chosen_text and year not in context and not self._is_current_year(year, choices):
                return False
        named = named_articles(question, self.articles)
        if named and not any(c.passage.article_id in named for c in choices):
            if not any(normalise(n) in chosen_text for n in _names_in(question, self.articles)):
                return False
        if terms:
            total = sum(terms.values())
            covered = set().union(*(c.covered for c in choices))
            return sum(terms[t] for t in covered) / total >= MIN_COVERAGE
        return choices[0].score >= MIN_DENSE_SIMILARITY

    def _is_current_year(self, year: str, choices: list[Choice]) -> bool:
        """The year an article is about ("今年"): the one its paragraphs name most."""
        article_id = choices[0].passage.article_id
        years = [y for p in self.index.paragraphs.values() if p.article_id == article_id
                 for y in _YEAR.findall(p.text)]
        return bool(years) and max(set(years), key=years.count) == year

    # --- writing the answer ------------------------------------------------------------------------
    def _compose(self, question: str, terms: dict[str, float], choices: list[Choice],
                 passages: list[Passage]) -> Answer:
        citations: list[Citation] = []
        marker_of: dict[str, int] = {}
        for choice in choices:
            paragraph_id = choice.passage.paragraph_id
            if paragraph_id not in marker_of:
                marker_of[paragraph_id] = len(citations) + 1
                citations.append(self._citation(marker_of[paragraph_id], choice.passage, choice.sentence))
            else:
                citation = citations[marker_of[paragraph_id] - 1]
                citation.quote += choice.sentence
        key = key_fact(question, terms, choices[0].sentence)
        lines = []
        if key and key != choices[0].sentence:
            lines.append(f"{key}[{marker_of[choices[0].passage.paragraph_id]}]")
        body = "".join(f"{c.sentence}[{marker_of[c.passage.paragraph_id]}]" for c in choices)
        lines.append(body)
        return Answer(question, "\n\n".join(lines), True, citations=citations, passages=passages)

    def _citation(self, n: int, passage: Passage, quote: str) -> Citation:
        return Citation(n=n, title=passage.title, district=passage.district, paragraph=passage.paragraph,
                        paragraph_id=passage.paragraph_id, text=passage.text, quote=quote,
                        score=passage.score, interviewee=passage.interviewee)

    # --- questions about the articles themselves -----------------------------------------------------
    def _meta_answer(self, question: str, passages: list[Passage]) -> Answer | None:
        """Who interviewed whom, an interviewee's position, a headline: answered from the byline."""
        by_id = {a.id: a for a in self.articles}
        article = None
        lowered = normalise(question)
        for candidate in self.articles:
            names = [candidate.interviewee, candidate.reporter, *district_aliases(candidate.district)]
            if any(name and normalise(name) in lowered for name in names):
                article = candidate
                break
        if article is None:
            return None
        chinese = is_chinese(question)
        if _REPORTER.search(question) and article.reporter and normalise(article.reporter) not in lowered:
            fact = (f"采访{article.interviewee or article.district}的是本报记者{article.reporter}" if chinese
                    else f"{article.interviewee or article.district} was interviewed by reporter {article.reporter}")
            quote = f"●本报记者 {article.reporter}"
        elif _REPORTER.search(question) and article.reporter and article.interviewee:
            fact = (f"本报记者{article.reporter}采访了{article.role}{article.interviewee}" if chinese
                    else f"Reporter {article.reporter} interviewed {article.interviewee} ({article.role})")
            quote = article.subtitle
        elif _ROLE.search(question) and article.role:
            fact = (f"{article.interviewee}的职务是{article.role}" if chinese
                    else f"{article.interviewee} is {article.role}")
            quote = article.subtitle
        elif _HEADLINE.search(question):
            fact = f"《{article.title}》"
            quote = article.title
        elif _WANTS_PERSON.search(question) and article.interviewee:
            fact = (f"受访者是{article.role}{article.interviewee}" if chinese
                    else f"The interviewee is {article.interviewee} ({article.role})")
            quote = article.subtitle
        else:
            return None
        citation = Citation(n=1, title=article.title, district=article.district, paragraph=0,
                            paragraph_id=f"{article.id}-header", text=article.header, quote=quote,
                            score=1.0, interviewee=article.interviewee)
        del by_id
        return Answer(question, f"{fact}[1]", True, citations=[citation], passages=passages)


def key_fact(question: str, terms: dict[str, float], sentence: str) -> str:
    """The clause of the sentence that holds what is asked: a number near the question's terms, a list."""
    clauses = [c for c in _CLAUSE.findall(sentence) if c.strip()]
    if len(clauses) <= 1:
        return ""
    normalised_terms = [t for t in terms]

    def term_hits(clause: str) -> float:
        text = normalise(clause)
        return sum(terms[t] for t in normalised_terms if t in text)

    if _WANTS_NUMBER.search(question):
        with_number = [c for c in clauses if _QUANTITY.search(c)]
        unit = _unit_asked(question)
        if unit:
            with_unit = [c for c in with_number if any(
                _UNIT_AFTER_NUMBER.match(c[m.end():]) and unit in c[m.end():m.end() + 4]
                for m in NUMBER.finditer(c))]
            with_number = with_unit or with_number
        if with_number:
            return _trim(max(with_number, key=term_hits))
    if _WANTS_LIST.search(question):
        listing = [c for c in clauses if "、" in c]
        if listing:
            return _trim(max(listing, key=lambda c: (term_hits(c), c.count("、"))))
    best = max(clauses, key=term_hits)
    return _trim(best) if term_hits(best) > 0 else ""


def _unit_asked(question: str) -> str:
    match = re.search(r"(?:多少|几)\s*(个|家|所|项|亩|元|万元|亿元|条|名|人|座|处|万亩|平方公里)", question)
    return match.group(1) if match else ""


def _trim(clause: str) -> str:
    return clause.strip().rstrip("，,；;：:。！？!?…")
