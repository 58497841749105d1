"""The benchmark: its generated corpora are deterministic and distinct, and it runs at a tiny size."""

from __future__ import annotations

import json

from eval import bench
from qa.corpus import load_corpus
from qa.text import normalise


def paragraph_texts(folder) -> list[str]:
    documents, warnings = load_corpus(folder)
    assert warnings == []
    return [p.text for d in documents for p in d.paragraphs]


def test_generated_corpus_is_deterministic_with_distinct_paragraphs(tmp_path):
    source = bench.SourceText()
    first = bench.generate_corpus(tmp_path / "a", 60, source=source)
    second = bench.generate_corpus(tmp_path / "b", 60, source=source)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]

    texts = paragraph_texts(tmp_path / "a")
    assert len(texts) == 60  # the parser reads back every paragraph: none joined, dropped or split
    assert len({normalise(t) for t in texts}) == 60
    bench.generate_corpus(tmp_path / "small", 30, source=source)
    assert paragraph_texts(tmp_path / "small") == texts[:30]  # a smaller corpus starts a larger one


def test_bench_runs_at_a_tiny_size(tmp_path):
    out = tmp_path / "results.json"
    argv = [
        "--sizes",
        "40",
        "--skip-shipped",
        "--real-build-max",
        "0",
        "--embed-sample",
        "4",
        "--questions-limit",
        "2",
        "--incremental-size",
        "40",
        "--extrapolate",
        "400",
        "--out",
        str(out),
        "--workdir",
        str(tmp_path / "work"),
        "--profile",
        "--embedding-server-chunks",
        "0",
        "--cache-from",
        "40",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert bench.main(argv) == 0

    results = json.loads(out.read_text(encoding="utf-8"))
    measured, extrapolated = results["scale"]["40"], results["scale"]["400"]
    assert measured["paragraphs"] == 40 and measured["chunks"] >= 40
    assert measured["queries"]["errors"] == 0 and measured["queries"]["retrieve"]["n"] == 2
    assert measured["peak_rss_mib"] > 0 and measured["index_bytes"] > 0
    assert extrapolated["build"]["extrapolated"] is True
    assert results["incremental"]["only_changed_file_embedded"] is True
    assert "| 40 |" in bench.markdown(results)

    # every measured part says which run, code and load it comes from; a part of an earlier run is marked
    assert measured["run"] == results["latest_run"] == results["incremental"]["run"]
    assert measured["code"] and isinstance(measured["load_average"], float)
    assert "³" not in bench.markdown(results)
    assert measured["profile"]["own_time_ms_per_question"] and any(
        "qa/engine.py" in name for name, *_ in measured["profile"]["qa_cumulative_ms_per_question"])
    # the targets are judged on rows of the latest run only, never on an earlier run's figures
    results["scale"]["100000"] = results["scale"]["1000"] = measured
    assert "| `qa.ask` p95, 100k ÷ 1k (same run) | ≤ 2× | 1.00× | yes |" in bench.markdown(results)
    results["scale"]["40"]["run"] = "2020-01-01T00:00:00+0000"
    table = bench.markdown(results)
    assert "³" in table.split("| 40 |")[1].splitlines()[0] and "100k ÷ 1k" not in table

    # the stand-in index was kept and a second run reuses it; the first run's update changed a copy, not it
    assert measured["stand_in_reused"] is False and measured["build_peak_rss_mib"] > 0
    cached = next((tmp_path / "cache").glob("stand-in-40-*"))
    regenerated = bench.generate_corpus(tmp_path / "again", 40)
    assert [p.read_bytes() for p in sorted((cached / "data").glob("*.txt"))] == [p.read_bytes() for p in regenerated]
    second = [*argv[:argv.index("--incremental-size")], "--incremental-size", "0",
              *argv[argv.index("--incremental-size") + 2:]]
    assert bench.main(second) == 0
    again = json.loads(out.read_text(encoding="utf-8"))["scale"]["40"]
    assert again["stand_in_reused"] is True and again["chunks"] == measured["chunks"]
    assert again["queries"]["errors"] == 0
