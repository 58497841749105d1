"""The benchmark on real text: corpora of 1k / 10k / 100k paragraphs recombined from real documents (CMRC 2018
Wikipedia articles in Simplified script, DRCD in Traditional, the shipped page), by paragraph, with names and
numbers varied; their real questions asked; p50/p95 by script and language, and the cold start."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

EVAL_DIR = Path(__file__).resolve().parent
ROOT = EVAL_DIR.parent
CMRC = EVAL_DIR / "cmrc2018-trial"
# DRCD's dev split (Traditional script), in eval/ when it ships there, else beside the project
DRCD = next((p for p in (EVAL_DIR / "drcd-dev", ROOT.parent / "shared" / "corpora" / "drcd-dev",
                         Path("/work/shared/corpora/drcd-dev")) if (p / "questions.jsonl").is_file()), None)
SHIPPED = EVAL_DIR / "shipped" / "docs"
SEED = 2024
PARAGRAPHS_PER_FILE = (3, 8)
_NUMBER = re.compile(r"\d+")
_HEADING = re.compile(r"^#+\s*")
# Syllables of made-up transliterated names: words outside jieba's dictionary, as real names of places,
# species and people are.
_SYLLABLES = "阿巴卡达埃法加哈伊贾克拉马纳奥帕奇拉萨塔乌瓦希亚扎莫里斯托尼洛维"


def _paragraphs(path: Path) -> tuple[str, list[str]]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    title = _HEADING.sub("", lines[0]) if lines and lines[0].startswith("#") else path.stem
    return title, [line for line in lines[1:] if not line.startswith("#") and len(line) >= 20]


def _made_up_name(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))


def _varied(paragraph: str, title: str, rng: random.Random) -> str:
    """The paragraph with its article's name swapped for a made-up one and every number changed (same digits
    count), so that a copy is new text to the index and to the answerer."""
    text = paragraph.replace(title, _made_up_name(rng)) if len(title) >= 2 else paragraph
    return _NUMBER.sub(lambda m: str(rng.randrange(10 ** (len(m.group()) - 1), 10 ** len(m.group())))
                       if len(m.group()) > 1 else str(rng.randrange(10)), text)


def sources() -> dict[str, Path]:
    found = {"zh-Hans": CMRC / "docs", "shipped": SHIPPED}
    if DRCD is not None:
        found["zh-Hant"] = DRCD / "docs"
    return found


def generate(folder: Path, paragraphs: int, seed: int = SEED) -> int:
    """The real documents as they are (their questions' answers stay in them), then files recombined from
    their paragraphs, varied, up to `paragraphs`; returns the paragraphs written."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    pool: list[tuple[str, str, str]] = []  # (script, title, paragraph)
    written = 0
    for script, docs in sources().items():
        for path in sorted(docs.iterdir()):
            if path.is_file():
                (folder / f"{script}-{path.name}").write_bytes(path.read_bytes())
                if path.suffix == ".md":
                    title, parts = _paragraphs(path)
                    pool += [(script, title, part) for part in parts]
                    written += len(parts)
                else:
                    written += 28
    n = 0
    while written < paragraphs:
        count = min(rng.randint(*PARAGRAPHS_PER_FILE), paragraphs - written)
        picked = [rng.choice(pool) for _ in range(count)]
        title = _made_up_name(rng)
        body = "\n\n".join(_varied(part, source_title, rng) for _, source_title, part in picked)
        (folder / f"mixed-{n:06d}.md").write_text(f"# {title}\n\n{body}\n", encoding="utf-8")
        written += count
        n += 1
    return written


def questions(limit: int, seed: int = SEED) -> dict[str, list[str]]:
    """Real questions by script and language: CMRC (Simplified), DRCD (Traditional), CMRC's English ones,
    the shipped page's Chinese and English ones; at most `limit` each, drawn with a fixed seed."""
    rng = random.Random(seed)
    groups: dict[str, list[str]] = {}

    def lines(path: Path) -> list[dict]:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    groups["zh-Hans (CMRC)"] = [q["question"] for q in lines(CMRC / "questions.jsonl")]
    if DRCD is not None:
        groups["zh-Hant (DRCD)"] = [q["question"] for q in lines(DRCD / "questions.jsonl")]
    groups["en (CMRC)"] = [q["question"] for q in lines(CMRC / "questions-en.jsonl")]
    shipped = lines(EVAL_DIR / "questions.jsonl")
    groups["zh (shipped)"] = [q["question"] for q in shipped if q.get("lang") == "zh"]
    groups["en (shipped)"] = [q["question"] for q in shipped if q.get("lang") == "en"]
    return {name: rng.sample(found, min(limit, len(found))) for name, found in groups.items()}


def latencies(engine, asked: dict[str, list[str]]) -> dict[str, dict]:
    engine.ask("预热")  # the warm figures: the cold start has a row of its own
    found = {}
    for name, group in asked.items():
        times = []
        for question in group:
            started = time.perf_counter()
            engine.ask(question)
            times.append((time.perf_counter() - started) * 1000)
        found[name] = {"questions": len(times), "p50_ms": round(float(np.percentile(times, 50)), 1),
                       "p95_ms": round(float(np.percentile(times, 95)), 1)}
    return found


def cold_start(data_dir: Path, index_dir: Path) -> dict:
    """`qa ask --verbose` in a new process, over an index built with the real model: its timed parts."""
    import os

    env = {**os.environ, "QA_DATA_DIR": str(data_dir), "QA_INDEX_DIR": str(index_dir)}
    question = "新城区今年计划实施多少个区级重点项目？"
    result = subprocess.run([sys.executable, "-m", "qa.cli", "ask", "--verbose", question], capture_output=True,
                            text=True, env=env, timeout=600, cwd=ROOT)
    parts = {}
    for line in result.stderr.splitlines():
        if line.strip().endswith(" ms") and ":" in line:
            part, value = line.rsplit(":", 1)
            parts[part.strip()] = float(value.split()[0])
    return parts


def markdown(results: dict) -> str:
    rows = ["| paragraphs | questions | `qa.ask` p50 | p95 |", "|---:|---|---:|---:|"]
    for size, measured in sorted(results.get("sizes", {}).items(), key=lambda item: int(item[0])):
        for name, figures in measured["latency"].items():
            rows.append(f"| {int(size):,} | {name} ({figures['questions']}) | {figures['p50_ms']:.0f} ms "
                        f"| {figures['p95_ms']:.0f} ms |")
    if cold := results.get("cold_start"):
        rows += ["", "| cold start (`qa ask --verbose`, shipped index) | ms |", "|---|---:|"]
        rows += [f"| {part} | {ms:.0f} |" for part, ms in cold.items()]
    return "\n".join(rows)
