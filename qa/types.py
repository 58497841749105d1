"""The records that travel between layers: articles, paragraphs, passages, citations and answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Article:
    """One interview (or one file, for documents that are not newspaper pages)."""

    id: str
    title: str
    source: str  # file name inside the data folder
    subtitle: str = ""  # "——访新城区委副书记、区长殷树刚"
    interviewee: str = ""  # "殷树刚"
    role: str = ""  # "新城区委副书记、区长"
    reporter: str = ""  # "刘沙沙"
    district: str = ""  # "新城区": the district or organisation the article is about

    @property
    def header(self) -> str:
        """Headline, subtitle and byline as printed: what a citation of the article itself shows."""
        lines = [self.title, self.subtitle, f"●本报记者 {self.reporter}" if self.reporter else ""]
        return "\n".join(line for line in lines if line)


@dataclass(frozen=True)
class Paragraph:
    """A repaired paragraph: the unit of citation, numbered 1.. within its article."""

    id: str  # stable: the same text in the same article gives the same id across rebuilds
    article_id: str
    number: int
    text: str


@dataclass
class Passage:
    """A retrieved paragraph, always whole, with its article's metadata and its fused score."""

    text: str
    title: str
    district: str
    paragraph: int
    paragraph_id: str
    score: float
    interviewee: str = ""
    article_id: str = ""
    source: str = ""


@dataclass
class Citation:
    """A source the answer rests on: marker number, whole paragraph, and the sentence(s) used."""

    n: int
    title: str
    district: str
    paragraph: int  # 0 means the article header (headline, subtitle, byline)
    paragraph_id: str
    text: str
    quote: str
    score: float
    interviewee: str = ""

    @classmethod
    def of(cls, passage: Passage, n: int, quote: str) -> Citation:
        """Marker n citing a retrieved passage: the whole paragraph, with the sentence(s) used."""
        return cls(n=n, title=passage.title, district=passage.district, paragraph=passage.paragraph,
                   paragraph_id=passage.paragraph_id, text=passage.text, quote=quote, score=passage.score,
                   interviewee=passage.interviewee)


@dataclass
class Answer:
    question: str
    text: str
    answered: bool
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    mode: str = "extractive"
    notice: str = ""
    unsupported: list[str] = field(default_factory=list)  # sentences whose facts no cited paragraph holds

    def to_dict(self) -> dict:
        return asdict(self)
