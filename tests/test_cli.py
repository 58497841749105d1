"""The `qa` command line, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

QA = str(Path(sys.executable).parent / "qa")


def run_qa(*args: str, env_from) -> subprocess.CompletedProcess:
    env = {**os.environ, "QA_DATA_DIR": str(env_from.settings.data_dir),
           "QA_INDEX_DIR": str(env_from.settings.index_dir)}
    return subprocess.run([QA, *args], capture_output=True, text=True, env=env, timeout=300)


def test_qa_ask_prints_the_answer_then_each_citation_with_its_paragraph(engine):
    result = run_qa("ask", "新城区今年计划实施多少个区级重点项目？", env_from=engine)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "128" in lines[0]
    assert "[1] 牢固树立“有解思维” 切实强化“交卷意识” 不折不扣抓落实 · paragraph 2" in lines
    assert any("全年实施128个区级重点项目建设" in line for line in lines[lines.index(
        "[1] 牢固树立“有解思维” 切实强化“交卷意识” 不折不扣抓落实 · paragraph 2"):])


def test_qa_ask_json_gives_the_whole_answer(engine):
    result = run_qa("ask", "玉泉区要建设多少亩高标准农田？", "--json", "--k", "3", env_from=engine)
    answer = json.loads(result.stdout)
    assert answer["answered"] and "2.7万亩" in answer["text"]
    assert len(answer["passages"]) == 3 and answer["citations"][0]["paragraph_id"]


def test_qa_ask_with_an_empty_question_exits_2_with_a_message(engine):
    result = run_qa("ask", "  ", env_from=engine)
    assert result.returncode == 2
    assert "empty" in result.stderr and "Traceback" not in result.stderr


def test_qa_index_prints_a_summary_and_warns_about_skipped_files(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("赛罕区计划新建3个社区食堂，年内投入使用。", encoding="gb18030")
    (data / "b.txt").write_bytes(bytes(range(256)) * 4)
    env = {**os.environ, "QA_INDEX_DIR": str(tmp_path / "index"), "QA_EMBED_MODEL": "use-multilingual"}
    result = subprocess.run([QA, "index", "--data", str(data)], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert "1 articles, 1 paragraphs" in result.stdout
    assert "skipped b.txt" in result.stderr
    assert "embedding" in result.stderr  # the progress bar


def test_qa_ask_on_a_corrupt_index_says_how_to_rebuild(tmp_path):
    from qa.store import MARKER, MARKER_CONTENT

    (tmp_path / "index").mkdir()
    (tmp_path / "index" / MARKER).write_text(json.dumps(MARKER_CONTENT), encoding="utf-8")  # ours, damaged
    (tmp_path / "index" / "manifest.json").write_text("garbage", encoding="utf-8")
    env = {**os.environ, "QA_INDEX_DIR": str(tmp_path / "index")}
    result = subprocess.run([QA, "ask", "新城区今年计划实施多少个区级重点项目？"], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 1
    assert "qa index --rebuild" in result.stderr and "Traceback" not in result.stderr
