"""A newspaper page of interviews: each headline + "——访…" + byline opens an article; header lines kept verbatim."""

from __future__ import annotations

import re

from ..text import ends_a_paragraph
from .base import Block, Layout, ParsedArticle, stem_title, unwrap
from .repair import repair

# "——访某区委副书记、区长张三": two dashes (or one long dash), then 访. A Markdown bullet "- 访问…" is not one.
SUBTITLE = re.compile(r"^(?:[—―]{1,2}|[–-]{2})\s*访\s*(?P<who>\S.*)$")
BYLINE = re.compile(r"^[●•]\s*(?:本报|特约|见习)?(?:记者|通讯员)\s*(?P<reporter>\S.*)$")
MAX_HEADLINE_CHARS = 100
_ROLE_AND_NAME = re.compile(
    r"^(?P<role>.*(?:书记|区长|县长|旗长|市长|镇长|乡长|主任|主席|部长|局长|厅长|处长|院长|校长|所长|经理|董事长"
    r"|总裁|会长|委员|常委|负责人|代表|教授|专家))"
    r"(?P<name>[\u4e00-\u9fff·]{2,4})$"
)
# The organisation a role belongs to: "某区委书记" → "某区", "某县县委书记" → "某县". Anchored at the start
# of one part of the role, and 委 must not open 委员会: "城市社区委员会" is not the district "城市社区".
_ORGANISATION = re.compile(
    r"^(?P<org>[\u4e00-\u9fff]{1,12}?(?P<kind>新区|开发区|园区|区|旗|县|市))(?P=kind)?"
    r"(?:委(?!员)|管委会|党工委|政府|人民政府)"
)


def is_headline(line: str) -> bool:
    return (len(line) <= MAX_HEADLINE_CHARS and not ends_a_paragraph(line)
            and not SUBTITLE.match(line) and not BYLINE.match(line))


def article_starts(lines: list[str]) -> list[int]:
    """Where articles open: a headline, a "——访…" line and a byline, on three lines in a row."""
    return [
        i for i in range(len(lines) - 2)
        if SUBTITLE.match(lines[i + 1]) and BYLINE.match(lines[i + 2]) and is_headline(lines[i])
    ]


def organisation_of(role: str) -> str:
    """The district or organisation a role is about: "市委常委、某区委书记" → "某区"."""
    for part in reversed(re.split(r"[、，,]", role)):
        if match := _ORGANISATION.match(part.strip()):
            return match.group("org")
    return ""


def header_metadata(headline: str, subtitle: str, byline: str) -> dict:
    who = SUBTITLE.match(subtitle).group("who").strip()
    role, name = who, ""
    if match := _ROLE_AND_NAME.match(who):
        role, name = match.group("role"), match.group("name")
    metadata = {
        "subtitle": subtitle,
        "interviewee": name,
        "role": role,
        "reporter": BYLINE.match(byline).group("reporter").strip(),
        "byline": byline,
        "district": organisation_of(role),
        "header_lines": [headline, subtitle, byline],
    }
    return {key: value for key, value in metadata.items() if value}


def split_page(source: str, lines: list[tuple[int, str]]) -> list[ParsedArticle]:
    """Articles of a page given as (group, line) pairs: lines of one group are not separated by a blank line."""
    texts = [line.lstrip("#").strip() if line.startswith("#") else line for _, line in lines]
    starts = article_starts(texts)
    articles = []
    if not starts or starts[0] > 0:  # text before the first headline: an article named after the file
        body = lines[: starts[0]] if starts else lines
        if body:
            articles.append(ParsedArticle(stem_title(source), repair(body_blocks(body))))
    for position, start in enumerate(starts):
        end = starts[position + 1] if position + 1 < len(starts) else len(lines)
        headline, subtitle, byline = texts[start : start + 3]
        articles.append(ParsedArticle(headline, repair(body_blocks(lines[start + 3 : end])),
                                      metadata=header_metadata(headline, subtitle, byline)))
    return articles


def body_blocks(lines: list[tuple[int, str]]) -> list[Block]:
    blocks, run, group = [], [], None
    for line_group, line in lines:
        if line_group != group and run:
            blocks += [Block(text) for text in unwrap(run)]
            run = []
        group = line_group
        run.append(line)
    return blocks + [Block(text) for text in unwrap(run)]


def numbered_lines(text: str) -> list[tuple[int, str]]:
    """The non-blank lines of a text, stripped, each with the number of its run of lines between blank ones."""
    lines, group, blank = [], 0, False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            blank = True
            continue
        if blank:
            group += 1
            blank = False
        lines.append((group, line))
    return lines


def looks_like_a_page(lines: list[str]) -> bool:
    return bool(article_starts(lines))


class NewspaperLayout(Layout):
    name = "newspaper"
    repairs = True

    def parse(self, source: str, data: bytes, text: str | None) -> list[ParsedArticle]:
        return split_page(source, numbered_lines(text or ""))

    def context(self, metadata: dict) -> str:
        interviewee, role = metadata.get("interviewee", ""), metadata.get("role", "")
        who = f"{interviewee}（{role}）" if interviewee and role else interviewee or role
        return " ".join(part for part in (metadata.get("district", ""), who) if part)
