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


def test_qa_index_prints_file_names_with_control_characters_escaped(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("赛罕区计划新建3个社区食堂，年内投入使用。", encoding="utf-8")
    # A readable file whose name would retitle and clear the terminal, read with a repair that names it,
    # and a binary one with colour codes in its name, skipped with a warning that names it.
    (data / "evil\x1b]0;PWNED\x07\x1b[2J.txt").write_bytes("玉泉区将建设2.7万亩高标准农田。".encode() * 20 + b"\xff")
    (data / "bin\x1b[31mred\u202e.txt").write_bytes(bytes(range(256)) * 4)
    env = {**os.environ, "QA_INDEX_DIR": str(tmp_path / "index"), "QA_EMBED_MODEL": "use-multilingual"}
    result = subprocess.run([QA, "index", "--data", str(data)], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    printed = result.stdout + result.stderr
    assert "\x1b" not in printed and "\x07" not in printed and "\u202e" not in printed
    assert r"evil\x1b]0;PWNED\x07\x1b[2J.txt: replaced 1 invalid byte" in result.stdout
    assert r"skipped 1: bin\x1b[31mred\u202e.txt (binary data, not text)" in result.stdout
    assert r"warning: skipped bin\x1b[31mred\u202e.txt" in result.stderr


def test_qa_ask_verbose_times_each_part_of_the_cold_start_on_stderr(engine):
    result = run_qa("ask", "--verbose", "新城区今年计划实施多少个区级重点项目？", env_from=engine)
    assert result.returncode == 0, result.stderr
    assert "128" in result.stdout.splitlines()[0]
    timed = dict(line.rsplit(":", 1) for line in result.stderr.splitlines() if line.strip().endswith(" ms"))
    parts = {part.strip(): float(value.split()[0]) for part, value in timed.items()}
    for part in ("python start-up", "qa imports", "jieba dictionary", "index (table, BM25, names, Chroma)",
                 "embedding model", "question", "first answer after process start"):
        assert part in parts, result.stderr
    assert parts["first answer after process start"] >= parts["qa imports"] + parts["question"]
    assert "of it the English dictionary" not in parts  # a Chinese question never reads it
    assert "ms" not in result.stdout


def test_qa_ask_reads_the_english_dictionary_only_for_an_english_question(engine):
    result = run_qa("ask", "--verbose", "How many key projects will Xincheng District implement this year?",
                    env_from=engine)
    assert result.returncode == 0, result.stderr
    assert "of it the English dictionary" in result.stderr


def test_a_chinese_question_loads_neither_llama_index_nor_pinyin_nor_the_english_dictionary(engine):
    # What a cold start pays for: a module imported is a module read, whether the question needed it or not.
    script = ("import sys, qa; from qa import bilingual; a = qa.ask('玉泉区要建设多少亩高标准农田？'); "
              "print(a.answered, sorted(m for m in ('llama_index.core', 'pypinyin') if m in sys.modules), "
              "bilingual.load_seconds)")
    env = {**os.environ, "QA_DATA_DIR": str(engine.settings.data_dir), "QA_INDEX_DIR": str(engine.settings.index_dir),
           "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "[]", "0.0"]


def chat(stdin: str, *args: str, env_from) -> subprocess.CompletedProcess:
    env = {**os.environ, "QA_DATA_DIR": str(env_from.settings.data_dir),
           "QA_INDEX_DIR": str(env_from.settings.index_dir)}
    return subprocess.run([QA, "chat", *args], input=stdin, capture_output=True, text=True, env=env, timeout=300)


def test_qa_chat_answers_each_line_with_the_conversation_so_far_until_quit(engine):
    session = ["新城区今年计划实施多少个区级重点项目？", "", "回民区呢？", "/new", "回民区呢？", "quit",
               "玉泉区要建设多少亩高标准农田？"]
    result = chat("\n".join(session) + "\n", env_from=engine)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    first, follow_up, after_new = (lines.index(line) for line in
                                   ("128个[1]", "72个[1]", "文档中没有找到这个问题的答案。"))
    assert first < follow_up < after_new  # the follow-up is read as the same question about 回民区
    assert "[1] 牢固树立“有解思维” 切实强化“交卷意识” 不折不扣抓落实 · paragraph 2" in lines[first:follow_up]
    assert any("回民区确定了72个2024年度实施的重点项目" in line for line in lines[follow_up:after_new])
    assert "像是追问，但之前没有问题" in lines[after_new - 1]  # after /new the follow-up has nothing to follow
    assert "2.7万亩" not in result.stdout  # nothing after quit is asked
    assert "(new conversation)" in result.stderr and ">" not in result.stderr  # no prompt when stdin is a pipe


def test_qa_chat_json_prints_one_answer_a_line_and_ends_at_the_end_of_input(engine):
    result = chat("玉泉区要建设多少亩高标准农田？\n它们什么时候建成？", "--json", env_from=engine)
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(answers) == 2
    assert answers[0]["answered"] and "2.7万亩" in answers[0]["text"]
    assert answers[1]["question"] == "它们什么时候建成？"
