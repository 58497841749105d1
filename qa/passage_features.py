"""What a passage's text gives whatever the question: its part-of-speech tags, computed when the paragraph is
indexed, stored with the generation, and read at question time, so that only the question is tagged then."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import jieba.posseg as posseg
import orjson

from .text import stable_id

FEATURES_FILE = "passage-tags.json"
FORMAT = 1
# jieba tags each run of these characters on its own (punctuation and spaces end a run), so a text's tags are
# its runs' tags one after the other: a run stored once serves every sentence and clause that holds it.
_RUN = posseg.re_han_internal

MIN_STORED_RUN = 2  # one character is one word: no tagger to save

_lock = threading.Lock()
_table: dict[str, str] = {}
_pending: list[Path] = []
_read: set[Path] = set()


def _runs(text: str) -> Iterable[str]:
    return (run for run in _RUN.split(text) if run)


def _stored_run(run: str) -> bool:
    return len(run) >= MIN_STORED_RUN and bool(_RUN.match(run))


def _encode(pairs) -> str:
    """The run's words as lengths and tags ("2n 1uj 3nr"): the words themselves are the run cut at those lengths."""
    return " ".join(f"{len(pair.word)}{pair.flag}" for pair in pairs)


def _decode(run: str, packed: str) -> list[posseg.pair]:
    pairs, at = [], 0
    for item in packed.split(" "):
        digits = len(item) - len(item.lstrip("0123456789"))
        size = int(item[:digits])
        pairs.append(posseg.pair(run[at:at + size], item[digits:]))
        at += size
    return pairs


def compute(texts: Iterable[str], previous: Path | None = None) -> dict[str, str]:
    """The packed tags of every run of `texts`, by the run's hash; a run the previous generation's table holds
    is taken from it, so that an update tags only the text it has not seen."""
    known: dict[str, str] = {}
    if previous is not None and (previous / FEATURES_FILE).is_file():
        try:
            stored = orjson.loads((previous / FEATURES_FILE).read_bytes())
            if stored.get("format") == FORMAT:
                known = stored["tags"]
        except (OSError, ValueError, KeyError, TypeError):
            known = {}
    found: dict[str, str] = {}
    for text in texts:
        for run in _runs(text):
            if not _stored_run(run):
                continue
            key = stable_id(run)
            if key not in found:
                found[key] = known.get(key) or _encode(posseg.lcut(run))
    return found


def write(folder: Path, texts: Iterable[str], previous: Path | None = None) -> None:
    """Store the tags of the paragraphs' runs in the generation folder."""
    (folder / FEATURES_FILE).write_bytes(orjson.dumps({"format": FORMAT, "tags": compute(texts, previous)}))


def register(folder: Path) -> None:
    """A loaded generation's table, read at the first passage tagged (an index that has none is tagged as asked)."""
    path = Path(folder) / FEATURES_FILE
    with _lock:
        if path not in _read and path not in _pending and path.is_file():
            _pending.append(path)


def _lookup(key: str) -> str | None:
    if _pending:
        with _lock:
            while _pending:
                path = _pending.pop()
                _read.add(path)
                try:
                    stored = orjson.loads(path.read_bytes())
                    if stored.get("format") == FORMAT:
                        # Keyed by the run's own hash: tables of several indexes share one map without clashing.
                        _table.update(stored["tags"])
                except (OSError, ValueError, KeyError, TypeError):
                    continue  # tagged as asked, as an index without a table is
    return _table.get(key)


@lru_cache(maxsize=65536)
def _tagged_run(run: str) -> tuple[posseg.pair, ...]:
    if _stored_run(run) and (packed := _lookup(stable_id(run))) is not None:
        return tuple(_decode(run, packed))
    return tuple(posseg.lcut(run))


def tags(text: str) -> list[posseg.pair]:
    """jieba's part-of-speech tags of a passage's text (a paragraph, a sentence, a clause of one), as
    `jieba.posseg.lcut(text)` gives them, read from the stored table where the index holds them."""
    return [pair for run in _runs(text) for pair in _tagged_run(run)]
