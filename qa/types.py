"""The records that travel between layers: articles, paragraphs, passages, citations and answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Article:
    """One document, or one article of a page that holds several (a newspaper page of interviews)."""

    id: str
    title: str
    source: str  # file name inside the data folder
    date: str = ""  # ISO-like ("2024-03-05", "2024-03") when the text states one
    # Whatever the layout found: the newspaper layout's subtitle, interviewee, role, reporter, district and
    # verbatim header lines; an HTML page's <meta> author; the layout's own name under "layout".
    metadata: dict = field(default_factory=dict, hash=False)

    @property
    def header(self) -> str:
        """The header lines exactly as printed (headline, subtitle, byline), or the title: what a citation of
        the article itself shows."""
        lines = self.metadata.get("header_lines") or [self.title]
        return "\n".join(line for line in lines if line)

    # compatibility: metadata of the newspaper layout, until every reader asks metadata itself
    @property
    def district(self) -> str:
        return self.metadata.get("district", "")

    # compatibility: metadata of the newspaper layout
    @property
    def interviewee(self) -> str:
        return self.metadata.get("interviewee", "")

    # compatibility: metadata of the newspaper layout
    @property
    def role(self) -> str:
        return self.metadata.get("role", "")

    # compatibility: metadata of the newspaper layout
    @property
    def reporter(self) -> str:
        return self.metadata.get("reporter", "")

    # compatibility: metadata of the newspaper layout
    @property
    def subtitle(self) -> str:
        return self.metadata.get("subtitle", "")


@dataclass(frozen=True)
class Paragraph:
    """A repaired paragraph: the unit of citation, numbered 1.. within its article."""

    id: str  # stable: the same text in the same document gives the same id across rebuilds
    article_id: str
    number: int
    text: str
    section: tuple[str, ...] = ()  # the heading path above it, outermost first
    page: int = 0  # the page of the file it starts on, 1-based; 0 when the format has no pages
    row: int = 0  # the spreadsheet row it was read from, 1-based; 0 otherwise

    def __post_init__(self):
        # Read back from JSON the path is a list; a tuple keeps the paragraph hashable.
        if not isinstance(self.section, tuple):
            object.__setattr__(self, "section", tuple(self.section))


SECTION_SEPARATOR = " › "


def place_in_file(paragraph: int, page: int = 0, row: int = 0, language: str = "zh") -> str:
    """Where a cited paragraph is, for a reader to find it in the file: "第3页 · 第2段", "第2段 · 第5行",
    "p. 3, ¶2", "paragraph 2"; the header for paragraph 0. A zero page or row is not shown."""
    if language == "en":
        if paragraph == 0:
            return "header"
        if not page and not row:
            return f"paragraph {paragraph}"
        return ", ".join(part for part in (f"p. {page}" if page else "", f"¶{paragraph}",
                                           f"row {row}" if row else "") if part)
    if paragraph == 0:
        return "标题"
    return " · ".join(part for part in (f"第{page}页" if page else "", f"第{paragraph}段",
                                        f"第{row}行" if row else "") if part)


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
    section: str = ""  # headings joined with " › "
    metadata: dict = field(default_factory=dict)  # a copy of the article's
    page: int = 0  # as on Paragraph: 0 means the format has no pages
    row: int = 0  # as on Paragraph: 0 means not a spreadsheet row


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
    source: str = ""
    section: str = ""
    metadata: dict = field(default_factory=dict)
    page: int = 0
    row: int = 0

    @classmethod
    def of(cls, passage: Passage, n: int, quote: str) -> Citation:
        """Marker n citing a retrieved passage: the whole paragraph, with the sentence(s) used."""
        return cls(n=n, title=passage.title, district=passage.district, paragraph=passage.paragraph,
                   paragraph_id=passage.paragraph_id, text=passage.text, quote=quote, score=passage.score,
                   interviewee=passage.interviewee, source=passage.source, section=passage.section,
                   metadata=dict(passage.metadata), page=passage.page, row=passage.row)


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
    follow_up: bool = False  # the question was completed from the conversation: it does not stand alone

    def to_dict(self) -> dict:
        return asdict(self)
