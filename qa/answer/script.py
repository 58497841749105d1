"""Both Chinese scripts: answerers read questions and passages in Simplified characters; the reader is shown the
documents' own characters in leads and quotes, and messages in the script the question was written in."""

from __future__ import annotations

from dataclasses import replace

from ..text import in_script, simplified
from ..types import Answer, Passage

# A shorter run found in a passage may be a character of a message that happens to occur there too.
MIN_QUOTED_RUN = 2


def simplified_passage(passage: Passage) -> Passage:
    """The passage as the answerer reads it: the same text, character for character, in Simplified ones."""
    return replace(passage, text=simplified(passage.text), title=simplified(passage.title),
                   section=simplified(passage.section), district=simplified(passage.district),
                   interviewee=simplified(passage.interviewee))


def restored(text: str, sources: list[str], traditional: bool) -> str:
    """`text`, written from Simplified forms of `sources`, with every run of two characters or more that one of
    them holds shown as that source writes it (sliced by offset: the conversion keeps offsets), and the rest, the
    answer's own words, in the question's script."""
    pairs = [(simplified(source), source) for source in sources if source]
    pieces: list[str] = []
    own = ""
    position = 0
    while position < len(text):
        end, origin = position, ""
        for converted, original in pairs:
            length = _longest_run(text, position, converted)
            if length >= MIN_QUOTED_RUN and position + length > end:
                at = converted.find(text[position:position + length])
                end, origin = position + length, original[at:at + length]
        if origin:
            pieces.append(in_script(own, traditional))
            pieces.append(origin)
            own = ""
            position = end
        else:
            own += text[position]
            position += 1
    pieces.append(in_script(own, traditional))
    return "".join(pieces)


def _longest_run(text: str, start: int, source: str) -> int:
    """How many characters of `text` from `start` on occur together in `source`."""
    length = 0
    while start + length < len(text) and text[start:start + length + 1] in source:
        length += 1
    return length


def in_own_scripts(answer: Answer, question: str, passages: list[Passage], traditional: bool) -> Answer:
    """The answer an answerer gave from simplified passages, shown in the documents' characters (leads,
    quotes, cited paragraphs) and the question's (messages; a refusal's words from the question as typed)."""
    by_id = {passage.paragraph_id: passage for passage in passages}
    # A refusal names what the question asked, so its words are the question's; an answer's come from the passages.
    sources = [p.text for p in passages] + [p.title for p in passages] if answer.answered else []
    citations = []
    for citation in answer.citations:
        original = by_id.get(citation.paragraph_id)
        if original is None:
            citations.append(replace(citation, quote=restored(citation.quote, sources, traditional),
                                     text=restored(citation.text, sources, traditional)))
            continue
        citations.append(replace(citation, text=original.text, title=original.title, section=original.section,
                                 district=original.district, interviewee=original.interviewee,
                                 quote=restored(citation.quote, [original.text, original.title], traditional)))
    # In place: an answerer may have set more on the answer than its fields (its confidence).
    answer.question = question
    answer.passages = passages
    answer.citations = citations
    answer.text = restored(answer.text, [*sources, question], traditional)
    answer.notice = restored(answer.notice, [question], traditional)
    answer.unsupported = [restored(sentence, sources, traditional) for sentence in answer.unsupported]
    return answer
