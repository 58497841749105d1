"""The answerer that needs no LLM: picks the sentences that answer, puts the key fact first, cites them,
and refuses when the retrieved text does not say what is asked."""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from dataclasses import dataclass, field

import jieba
import numpy as np

from ..corpus import article_names, district_aliases, pinyin_name
from ..retrieval import named_articles
from ..store import LoadedIndex
from ..text import STOPWORDS, is_chinese, normalise, split_sentences
from ..types import Answer, Article, Citation, Passage
from .prompts import refusal_for as refusal

# Calibrated on eval/questions.jsonl (dev split): the share of the question's idf-weighted terms that
# the chosen sentences (with their article's context) must contain, and, for English questions, the
# least cosine similarity between question and chosen sentence.
MIN_COVERAGE = 0.5
MIN_DENSE_SIMILARITY = 0.785
MAX_SENTENCES = 3
MAX_SENTENCES_TO_EMBED = 16  # an English question embeds the sentences of its top passages, once each

_QUESTION_WORD = re.compile(r"多少|几|哪些|哪个|哪家|哪座|哪项|哪位|哪|什么|谁|如何|怎样|怎么")
_WANTS_NUMBER = re.compile(
    r"多少|(?<!哪)几[个家所项条亿万名位成]|数量|规模|金额|比例|百分之"
    r"|how (many|much)|what (number|percentage)|number of",
    re.IGNORECASE,
)
_WANTS_PERSON = re.compile(r"谁|哪位|姓名|名字|叫什么|\bwho\b|\bwhose\b|\bname\b", re.IGNORECASE)
_WANTS_LIST = re.compile(r"哪些|有什么|包括|包含|哪几|what are|\bwhich\b|list", re.IGNORECASE)
_WANTS_TIME = re.compile(r"哪一年|哪年|何时|什么时候|多久|\bwhen\b|what year|how long", re.IGNORECASE)
_WANTS_AGE = re.compile(r"多大年纪|多大岁数|多少岁|岁数|年龄|几岁|年纪|出生|how old|\bage\b|born", re.IGNORECASE)
_OTHER_YEAR = re.compile(r"去年|前年|明年|后年|上一年|下一年|last year|next year|previous year", re.IGNORECASE)
# Question phrases are not terms to look for: "是多大规模" asks about 规模, "哪几个园区" about 园区.
_QUESTION_PHRASE = re.compile(
    r"加起来|一共|合计|总共|总计|至少|最多|最少|分别|各有|数量|三者|两者|哪两|两个|三个|几位|"
    r"(?:是|有|为)?(?:多少|多大|多高|多长|多远|多久|哪几|哪些|哪个|哪家|哪座|哪项|哪位|哪|几|什么样|什么|怎样|如何|怎么)"
    r"(?:个|家|项|所|条|种|位|名|座|处|类)?"
)
_REPORTER = re.compile(r"记者|谁采访|采访者|采访的是|采访了谁|采访了哪|interview|reporter|journalist|byline",
                       re.IGNORECASE)
_ROLE = re.compile(r"职务|职位|担任|身份|什么官|哪个区的|position|\brole\b|\bjob\b|title of", re.IGNORECASE)
_HEADLINE = re.compile(r"标题|题目|headline", re.IGNORECASE)
_HEAD = re.compile(r"区长|书记|主任|受访者|负责人|\bhead\b|mayor|secretary|director|interviewee|leader", re.IGNORECASE)
_YEAR = re.compile(r"(?<!\d)(20\d\d|19\d\d)(?!\d)")
_FOLLOW_UP = re.compile(r"^(那么?|还有|and\b|what about|how about)|呢[？?]?$", re.IGNORECASE)
_CLAUSE = re.compile(r"[^，,；;：:。！？!?…]+[，,；;：:。！？!?…]*")
# A quantity answers "how many"; a year ("2024年") does not, though "2024年度" is part of a phrase.
_QUANTITY = re.compile(r"\d+(?:[.,]\d+)*(?:\s*[%％])?(?!\d)(?!\s*年(?!度))|[两一二三四五六七八九十百千]+[百千万亿]级")
_UNIT = re.compile(r"(?:多少|几)\s*(万亩|平方公里|个|家|所|项|亩|元|万元|亿元|条|名|人|座|处|位)")
_TWO_PARTS = re.compile(r"和|与|及|比|分别|各|加起来|合计|一共|哪个|\band\b|\bvs\b|compared", re.IGNORECASE)
_PART_BREAKS = {"和", "与", "及", "以及", "、", "，", ",", "；", ";", "还有", "并且", "还要"}
_COMPARE = re.compile(r"多几|少几|相差|差多少|多出|差距|more than|fewer than|difference", re.IGNORECASE)
_TOTAL = re.compile(r"一共|合计|加起来|总共|之和|总计|in total|combined|altogether", re.IGNORECASE)
_WHICH_MORE = re.compile(r"哪个.*(更多|最多|更大|最大|多)|which .*(more|most|larger|largest)", re.IGNORECASE)
_WHICH_LESS = re.compile(r"哪个.*(更少|最少|更小|最小|少)|which .*(fewer|fewest|smaller|smallest|least)", re.IGNORECASE)


@dataclass
class Choice:
    sentence: str
    passage: Passage
    score: float
    covered: set[str] = field(default_factory=set)


def standalone_question(question: str, history: list[dict], articles: list[Article]) -> str:
    """Without an LLM, a follow-up such as "回民区呢？" becomes the previous question about 回民区; a chain
    of follow-ups ("回民区呢？", "那玉泉区呢？") resolves turn by turn."""
    resolved = ""
    for message in history:
        if message["role"] == "user":
            resolved = _resolve(message["content"], resolved, articles)
    return _resolve(question, resolved, articles)


def _resolve(question: str, previous: str, articles: list[Article]) -> str:
    if not previous or not _FOLLOW_UP.search(question.strip()):
        return question
    new_names = names_in(question, articles)
    if not new_names:
        return question
    rewritten = previous
    for old in names_in(previous, articles):
        rewritten = re.sub(re.escape(old), new_names[0], rewritten, flags=re.I)
    if rewritten == previous:
        rewritten = f"{new_names[0]} {previous}"
    return rewritten


def names_in(text: str, articles: list[Article]) -> list[str]:
    """District names (any alias) and interviewees the text mentions, longest first."""
    found = []
    lowered = normalise(text)
    for article in articles:
        for name in article_names(article.district, article.interviewee):
            if normalise(name) in lowered and name not in found:
                found.append(name)
    return sorted(found, key=len, reverse=True)


class ExtractiveAnswerer:
    def __init__(self, index: LoadedIndex, embed_model=None):
        self.index = index
        self.embed_model = embed_model
        self.articles = list(index.articles.values())
        self._document_frequency = index.document_frequencies()
        self._documents = max(len(index.chunk_ids), 1)
        self._sentence_vectors: dict[str, list[float]] = {}
        self._cache_lock = threading.Lock()
        self._current_year = {}
        for paragraph in index.paragraphs.values():
            self._current_year.setdefault(paragraph.article_id, []).extend(_YEAR.findall(paragraph.text))

    def idf(self, term: str) -> float:
        frequency = self._document_frequency.get(term, 0)
        return math.log(1 + (self._documents - frequency + 0.5) / (frequency + 0.5))

    def answer(self, question: str, passages: list[Passage]) -> Answer:
        if not passages:
            return Answer(question, refusal(question), False, passages=passages)
        if meta := self._meta_answer(question, passages):
            return meta
        terms, focus = self._question_terms(question)
        unknown = [t for t in terms if t.isascii() and len(t) > 1 and self._document_frequency.get(t, 0) == 0]
        if not is_chinese(question):
            acronyms = re.findall(r"\b[A-Z][A-Z0-9]+\b", question)
            unknown = [w for w in acronyms if w.lower() not in self._document_frequency]
        if unknown:
            # A name or acronym the documents never use ("GDP", "5G"): nothing here can answer it.
            notice = f"“{unknown[0].upper()}” does not occur in the documents."
            return Answer(question, refusal(question), False, passages=passages, notice=notice)
        if not is_chinese(question) and len(set(re.findall(r"[a-z]{3,}", question.lower())) - STOPWORDS) < 2:
            return Answer(question, refusal(question), False, passages=passages,
                          notice="The question has too few words to search for.")
        names = {normalise(n) for n in names_in(question, self.articles)}
        if (is_chinese(question) and terms and all(normalise(t) in names for t in terms)
                and not _QUESTION_WORD.search(question)):
            return Answer(question, refusal(question), False, passages=passages,
                          notice="The question names only where or whom it is about: say what you want to know.")
        if is_chinese(question) and terms:
            choices = self._choose_by_parts(question, terms, passages)
            supported = bool(choices)
            if not choices:
                choices = self._choose_by_terms(question, terms, passages)
                supported = choices and self._supported_by_terms(question, terms, focus, choices)
        else:
            choices = self._choose_by_meaning(question, passages)
            supported = choices and choices[0].score >= MIN_DENSE_SIMILARITY
        if not supported or not self._consistent(question, choices):
            return Answer(question, refusal(question), False, passages=passages)
        return self._compose(question, terms, choices, passages)

    # --- what the question asks ------------------------------------------------------------------
    def _question_terms(self, question: str) -> tuple[dict[str, float], set[str]]:
        """Content terms with their idf, and the focus: the terms next to the question word, which say
        what is asked ("总投资是多少" → 投资). Single Chinese characters carry too little to match on."""
        chinese = is_chinese(question)
        spans = []
        stripped = _QUESTION_PHRASE.sub(lambda m: " " * len(m.group()), unicodedata.normalize("NFKC", question).lower())
        for word, start, end in jieba.tokenize(stripped, mode="search"):
            if not word.strip():
                continue
            if word in STOPWORDS or not re.search(r"\w", word) or (len(word) == 1 and not word.isascii()):
                continue
            if not chinese and word.isascii() and self._document_frequency.get(word, 0) == 0:
                continue  # an English word: the Chinese text cannot contain it
            spans.append((word, start, end))
        terms = {word: self.idf(word) for word, _, _ in spans}
        # jieba's search mode gives "高标准" and also "高标", "标准": keep the parts only when the whole is
        # unknown to the corpus, so a paraphrase still matches on its parts.
        for term in list(terms):
            if self._document_frequency.get(term, 0) > 0:
                for part in [t for t in terms if t != term and t in term]:
                    terms.pop(part, None)
        names = {normalise(n) for n in names_in(question, self.articles)}
        focus = set()
        for match in _QUESTION_WORD.finditer(question):
            for word, start, end in spans:
                near = match.start() - 6 <= start and end <= match.end() + 8
                if near and word in terms and normalise(word) not in names:
                    focus.add(word)
        return terms, focus

    # --- choosing sentences ------------------------------------------------------------------------
    def _context(self, passage: Passage) -> str:
        article = self.index.articles.get(passage.article_id)
        if not article:
            return ""
        return normalise(" ".join([*district_aliases(article.district), article.interviewee, article.role,
                                   article.title]))

    def _choose_by_parts(self, question: str, terms: dict[str, float], passages: list[Passage]) -> list[Choice]:
        """"新城区和回民区各安排了多少个重点项目" asks two things: find each part's sentence on its own."""
        if not _TWO_PARTS.search(question):
            return []
        parts, current = [], ""
        for word in jieba.lcut(question):
            if word in _PART_BREAKS:
                parts.append(current)
                current = ""
            else:
                current += word
        parts = [p for p in [*parts, current] if p.strip()]
        if len(parts) < 2:
            return []
        chosen: list[Choice] = []
        names = {normalise(n) for n in names_in(question, self.articles)}
        shared: dict[str, float] = {}
        for part in reversed(parts):
            if shared := {t: w for t, w in self._question_terms(part)[0].items() if normalise(t) not in names}:
                break
        for part in parts:
            own, _ = self._question_terms(part)
            if not own or (len(chosen) >= 2 and (_WHICH_MORE.search(part) or _WHICH_LESS.search(part))):
                continue  # "哪个最少", "哪个区今年的重点项目更多": the comparison, not a part to look up
            # A part that only names a district ("新城区和…") takes what is asked from the shared part.
            only_names = all(normalise(t) in names for t in own)
            weighted = {**{t: w * 0.5 for t, w in shared.items()}, **own} if only_names else own
            best = self._choose_by_terms(question, weighted, passages, named=set(named_articles(part, self.articles)),
                                         single=True)[0]
            if sum(w for t, w in own.items() if t in best.covered) / sum(own.values()) < MIN_COVERAGE:
                return []
            if all(best.sentence != c.sentence for c in chosen):
                chosen.append(best)
        return chosen if len(chosen) >= 2 else []

    def _choose_by_terms(self, question: str, terms: dict[str, float], passages: list[Passage],
                         named: set[str] | None = None, single: bool = False) -> list[Choice]:
        total = sum(terms.values())
        wants_number = bool(_WANTS_NUMBER.search(question))
        if named is None:
            named = set(named_articles(question, self.articles))
        question_names = [normalise(n) for n in names_in(question, self.articles)]
        candidates: list[Choice] = []
        top_score = max(p.score for p in passages) or 1.0
        for passage in passages:
            context = self._context(passage)
            for sentence in split_sentences(passage.text):
                text = normalise(sentence)
                covered = {t for t in terms if t in text}
                in_context = {t for t in terms if t not in covered and t in context}
                score = (sum(terms[t] for t in covered) + 0.6 * sum(terms[t] for t in in_context)) / total
                score += 0.15 * passage.score / top_score
                if wants_number:
                    score += 0.1 if _QUANTITY.search(sentence) else -0.3
                if named and passage.article_id not in named and not any(n in text for n in question_names):
                    score -= 0.5
                candidates.append(Choice(sentence, passage, score, covered | in_context))
        candidates.sort(key=lambda c: c.score, reverse=True)
        chosen = [candidates[0]]
        if single:
            return chosen
        # A question whose parts sit in other sentences (or in another district's interview) gets them.
        missing = set(terms) - chosen[0].covered
        districts_needed = named - {chosen[0].passage.article_id}
        two_parts = bool(_TWO_PARTS.search(question))
        for candidate in candidates[1:]:
            if len(chosen) >= MAX_SENTENCES or candidate.score < 0.6 * chosen[0].score:
                break
            if named and not two_parts and candidate.passage.article_id not in named and not any(
                n in normalise(candidate.sentence) for n in question_names
            ):
                continue  # another district's sentence cannot complete an answer about this one
            adds = sum(terms[t] for t in missing & candidate.covered) / total
            adds_district = candidate.passage.article_id in districts_needed
            if adds >= 0.15 or adds_district:
                chosen.append(candidate)
                missing -= candidate.covered
                districts_needed.discard(candidate.passage.article_id)
        # "哪些资源" answered by "做足挖潜增效。" whose next sentence lists them: take the list too.
        if _WANTS_LIST.search(question) and "、" not in chosen[0].sentence:
            sentences = split_sentences(chosen[0].passage.text)
            position = sentences.index(chosen[0].sentence) if chosen[0].sentence in sentences else -1
            if 0 <= position < len(sentences) - 1 and "、" in sentences[position + 1]:
                chosen.insert(1, Choice(sentences[position + 1], chosen[0].passage, chosen[0].score))
        return chosen

    def _choose_by_meaning(self, question: str, passages: list[Passage]) -> list[Choice]:
        """For questions with no Chinese terms to match (English over Chinese): the most similar sentences."""
        if self.embed_model is None:
            return []
        named = named_articles(question, self.articles)
        pool = [p for p in passages if p.article_id in named] or passages
        sentences = [(s, p) for p in pool[:2] for s in split_sentences(p.text)]
        if not sentences:
            return []
        sentences = sentences[:MAX_SENTENCES_TO_EMBED]
        query = np.asarray(self.embed_model.get_query_embedding(question))
        vectors = np.asarray([self._sentence_vector(s) for s, _ in sentences])
        similarity = vectors @ query
        wants_number = bool(_WANTS_NUMBER.search(question))
        bonus = np.array([0.01 if wants_number and _QUANTITY.search(s) else 0.0 for s, _ in sentences])
        best = int(np.argmax(similarity + bonus))
        sentence, passage = sentences[best]
        return [Choice(sentence, passage, float(similarity[best]))]

    def _sentence_vector(self, sentence: str) -> list[float]:
        with self._cache_lock:
            vector = self._sentence_vectors.get(sentence)
        if vector is None:
            vector = self.embed_model.get_text_embedding(sentence)
            with self._cache_lock:
                if len(self._sentence_vectors) > 50_000:
                    self._sentence_vectors.clear()
                self._sentence_vectors[sentence] = vector
        return vector

    def _supported_by_terms(self, question: str, terms: dict[str, float], focus: set[str],
                            choices: list[Choice]) -> bool:
        """Refuse rather than guess: the chosen text must hold most of what the question names, and
        what it asks about (the focus terms) must be in the sentences themselves."""
        sentences = normalise("".join(c.sentence for c in choices))
        covered = set().union(*(c.covered for c in choices))
        coverage = sum(terms[t] for t in covered) / sum(terms.values())
        if focus and not any(t in sentences for t in focus):
            never_used = any(self._document_frequency.get(t, 0) == 0 for t in focus)
            if never_used or coverage < 0.85:
                return False
        return coverage >= MIN_COVERAGE

    def _consistent(self, question: str, choices: list[Choice]) -> bool:
        """The chosen text is about what the question names: its district, its year, a quantity."""
        first = choices[0]
        if _WANTS_NUMBER.search(question) and not any(_QUANTITY.search(c.sentence) for c in choices):
            return False
        if _WANTS_AGE.search(question) and not any("岁" in c.sentence for c in choices):
            return False
        if (other := _OTHER_YEAR.search(question)) and not any(other.group() in c.sentence for c in choices):
            return False
        if _WANTS_TIME.search(question) and not any(_YEAR.search(c.sentence) or "月" in c.sentence
                                                     for c in choices):
            return False
        text = normalise(first.sentence + first.passage.text)
        for year in _YEAR.findall(question):
            if year not in text and not self._is_current_year(year, first.passage.article_id):
                return False
        named = named_articles(question, self.articles)
        if named and first.passage.article_id not in named:
            return any(normalise(n) in normalise(first.sentence) for n in names_in(question, self.articles))
        return True

    def _is_current_year(self, year: str, article_id: str) -> bool:
        """The year an article is about ("今年"): the one its paragraphs name most."""
        years = self._current_year.get(article_id, [])
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
                citations.append(Citation.of(choice.passage, marker_of[paragraph_id], choice.sentence))
            else:
                citations[marker_of[paragraph_id] - 1].quote += choice.sentence
        keys = []
        for choice in choices:
            key = key_fact(question, terms, choice.sentence)
            marker = f"[{marker_of[choice.passage.paragraph_id]}]"
            if key and f"{key}{marker}" not in keys and (len(choices) > 1 or key != _trim(choice.sentence)):
                keys.append(f"{key}{marker}")
        lines = []
        if computed := reasoned(question, choices, keys):
            lines.append(computed)
        if keys:
            lines.append("；".join(keys))
        person = self._who_said(question, choices[0], marker_of)
        if person:
            lines.insert(0, person)
        lines.append("".join(f"{c.sentence}[{marker_of[c.passage.paragraph_id]}]" for c in choices))
        return Answer(question, "\n\n".join(lines), True, citations=citations, passages=passages)

    def _who_said(self, question: str, choice: Choice, marker_of: dict[str, int]) -> str:
        """"哪位受访者提出…" is answered with the interviewee of the paragraph that says it."""
        if not _WANTS_PERSON.search(question) or names_in(question, self.articles):
            return ""
        article = self.index.articles.get(choice.passage.article_id)
        if not article or not article.interviewee:
            return ""
        return f"{article.interviewee}（{article.role}）[{marker_of[choice.passage.paragraph_id]}]"

    # --- questions about the articles themselves -----------------------------------------------------
    def _meta_answer(self, question: str, passages: list[Passage]) -> Answer | None:
        """Who interviewed whom, who heads a district, an interviewee's position, a headline: answered
        from the article's byline and subtitle, citing the article header."""
        if _WANTS_TIME.search(question) or _WANTS_NUMBER.search(question):
            return None
        asks_reporter = bool(_REPORTER.search(question))
        asks_role = bool(_ROLE.search(question))
        asks_headline = bool(_HEADLINE.search(question))
        asks_person = bool(_WANTS_PERSON.search(question)) and bool(_HEAD.search(question) or asks_reporter)
        if not (asks_reporter or asks_role or asks_headline or asks_person):
            return None
        text = normalise(question)
        matched = []
        for article in self.articles:
            names = [*article_names(article.district, article.interviewee), article.reporter, article.title]
            if any(name and normalise(name) in text for name in names):
                matched.append(article)
        if not matched or len(matched) > 3:
            return None
        chinese = is_chinese(question)
        facts, citations = [], []
        for n, article in enumerate(matched, start=1):
            fact, quote = _meta_fact(article, text, chinese, asks_reporter, asks_role, asks_headline, asks_person)
            if not fact:
                return None
            facts.append(f"{fact}[{n}]")
            citations.append(Citation(n=n, title=article.title, district=article.district, paragraph=0,
                                      paragraph_id=f"{article.id}-header", text=article.header, quote=quote,
                                      score=1.0, interviewee=article.interviewee))
        joiner = "；" if chinese else "; "
        return Answer(question, joiner.join(facts), True, citations=citations, passages=passages)


def _meta_fact(article: Article, text: str, chinese: bool, asks_reporter: bool, asks_role: bool,
               asks_headline: bool, asks_person: bool) -> tuple[str, str]:
    who = article.interviewee or article.district
    byline = f"●本报记者 {article.reporter}"
    reporter_named = article.reporter and normalise(article.reporter) in text
    if asks_reporter and article.reporter and not reporter_named:
        if chinese:
            return f"采访{article.role}{who}的是本报记者{article.reporter}", byline
        return f"{who} ({article.role}) was interviewed by reporter {article.reporter}", byline
    if asks_reporter and reporter_named and article.interviewee:
        if chinese:
            return f"本报记者{article.reporter}采访的是{article.role}{article.interviewee}", article.subtitle
        return f"Reporter {article.reporter} interviewed {article.interviewee} ({article.role})", article.subtitle
    if asks_headline and normalise(article.title) not in text:
        return (f"《{article.title}》" if chinese else f"“{article.title}”"), article.title
    if (asks_role or asks_person) and article.interviewee:
        if chinese:
            return f"{article.interviewee}，{article.role}", article.subtitle
        return f"{article.interviewee} ({pinyin_name(article.interviewee).title()}), {article.role}", article.subtitle
    return "", ""


def key_fact(question: str, terms: dict[str, float], sentence: str) -> str:
    """The clause that holds what is asked: a quantity next to the question's terms, or a list."""
    clauses = [c for c in _CLAUSE.findall(sentence) if c.strip()]
    if not clauses:
        return ""

    def term_hits(clause: str) -> float:
        text = normalise(clause)
        return sum(weight for term, weight in terms.items() if term in text)

    if _WANTS_NUMBER.search(question):
        with_number = [c for c in clauses if _QUANTITY.search(c)]
        unit = _UNIT.search(question)
        if unit:
            with_number = [c for c in with_number if re.search(rf"\d\s*{unit.group(1)}", c)] or with_number
        if with_number:
            return _trim(max(with_number, key=term_hits))
    if _WANTS_LIST.search(question):
        listing = [c for c in clauses if "、" in c]
        if listing:
            return _trim(max(listing, key=lambda c: (term_hits(c), c.count("、"))))
    best = max(clauses, key=term_hits)
    return _trim(best) if term_hits(best) > 0 else ""


def reasoned(question: str, choices: list[Choice], keys: list[str]) -> str:
    """Simple arithmetic over the key facts of two or more sentences: difference, total, which is more."""
    if len(keys) < 2:
        return ""
    values, sources = [], []
    unit = _UNIT.search(question)
    for key, choice in zip(keys, choices, strict=False):
        clause = re.sub(r"\[\d+\]$", "", key)
        numbers = [m for m in _QUANTITY.finditer(clause) if m.group()[0].isdigit()]
        if unit:
            numbers = [m for m in numbers if clause[m.end():].lstrip().startswith(unit.group(1))] or numbers
        if numbers:
            values.append(float(re.sub(r"[,%％\s]", "", numbers[0].group())))
            sources.append(choice)
    if len(values) < 2:
        return ""
    choices = sources
    shown = [f"{v:g}" for v in values]
    chinese = is_chinese(question)
    if _COMPARE.search(question) and len(values) == 2:
        result = f"{abs(values[0] - values[1]):g}"
        if chinese:
            return f"相差{result}（{shown[0]} 与 {shown[1]}）"
        return f"A difference of {result} ({shown[0]} vs {shown[1]})"
    if _TOTAL.search(question):
        result = f"{sum(values):g}"
        return f"合计{result}（{' + '.join(shown)}）" if chinese else f"{result} in total ({' + '.join(shown)})"
    if _WHICH_MORE.search(question) or _WHICH_LESS.search(question):
        pick = max if _WHICH_MORE.search(question) and not _WHICH_LESS.search(question) else min
        index = values.index(pick(values))
        district = choices[min(index, len(choices) - 1)].passage.district
        return f"{district}（{shown[index]}）" if chinese else f"{district} ({shown[index]})"
    return ""


def _trim(clause: str) -> str:
    return clause.strip().rstrip("，,；;：:。！？!?…")
