"""Layout repair for paged text: join a paragraph cut by a page or column break, drop exact repeats.
Linear in the number of blocks; never reorders text, never drops a block that is not an exact repeat."""

from __future__ import annotations

import logging

from ..text import ends_a_paragraph, normalise
from .base import MIN_WRAPPED_CHARS, Block

log = logging.getLogger(__name__)

OPENING_QUOTES = ("“", '"', "「", "『", "‘")


def drop_exact_repeats(blocks: list[Block]) -> list[Block]:
    """Keep the first of blocks whose normalised text is the same (a layout slip printed it twice)."""
    seen: set[str] = set()
    kept = []
    for block in blocks:
        key = normalise(block.text)
        if key in seen:
            log.info("dropped a repeated paragraph: %.30s…", block.text)
            continue
        seen.add(key)
        kept.append(block)
    return kept


def is_cut(block: Block) -> bool:
    """A long block without end punctuation: a paragraph a page or column break cut in two."""
    return len(block.text) >= MIN_WRAPPED_CHARS and not ends_a_paragraph(block.text)


def join_cut_paragraphs(blocks: list[Block]) -> list[Block]:
    """Join each cut block to the block right after it, unless that one opens a quotation (a new paragraph
    of speech) or lies under another heading."""
    joined: list[Block] = []
    for block in blocks:
        previous = joined[-1] if joined else None
        if (previous is not None and is_cut(previous) and previous.section == block.section
                and not block.text.startswith(OPENING_QUOTES)):
            joined[-1] = Block(previous.text + block.text, previous.section, previous.page, previous.row)
        else:
            joined.append(block)
    return joined


def repair(blocks: list[Block]) -> list[Block]:
    return join_cut_paragraphs(drop_exact_repeats(blocks))
