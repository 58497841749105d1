"""Reliability of the index as a careless or hostile user meets it: foreign folders, concurrent and killed
builders, damaged or frozen stores, oversized inputs. Every test uses a real index on disk."""

from __future__ import annotations

import hashlib
import http.server
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import free_port
from test_store import FAST_MODEL, chroma_server, make_engine  # noqa: F401 (chroma_server is a fixture)

from qa.engine import Engine
from qa.store import BuildBusy, IndexUnavailable

QA = str(Path(sys.executable).parent / "qa")
QUESTION = "赛罕区计划新建多少个社区食堂？"


def cli(*args: str, data: Path, index: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([QA, *args], capture_output=True, text=True, timeout=600, env=cli_env(data, index, **env))


def cli_env(data: Path, index: Path, **extra: str) -> dict:
    env = {**os.environ, "QA_DATA_DIR": str(data), "QA_INDEX_DIR": str(index), "QA_EMBED_MODEL": FAST_MODEL}
    for name in ("QA_CHROMA_HOST", "QA_CHROMA_PORT", "QA_LLM_BASE_URL"):
        env.pop(name, None)
    return {**env, **extra}


def tree(folder: Path) -> dict[str, str]:
    """Every file under a folder with a hash of its bytes: equal trees mean nothing was touched."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def assert_no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text, text


def test_a_foreign_folder_survives_rebuild_byte_for_byte(small_corpus, tmp_path):
    foreign = tmp_path / "my-folder"
    (foreign / "chroma").mkdir(parents=True)
    (foreign / "chroma" / "my-embeddings-readme.txt").write_text("mine", encoding="utf-8")
    (foreign / "gen-2023-report").mkdir()
    (foreign / "gen-2023-report" / "q1.csv").write_text("quarter,revenue\nq1,10\n", encoding="utf-8")
    (foreign / "notes.txt").write_text("my notes", encoding="utf-8")
    before = tree(foreign)

    for args in (["ask", QUESTION], ["index"], ["index", "--rebuild"]):
        result = cli(*args, data=small_corpus, index=foreign)
        assert result.returncode == 1, result
        assert "did not write" in result.stderr and "QA_INDEX_DIR" in result.stderr
        assert_no_traceback(result.stderr)
    assert tree(foreign) == before


def test_a_folder_holding_another_programs_manifest_is_never_taken_for_an_index(small_corpus, tmp_path):
    site = tmp_path / "my-site"
    site.mkdir()
    (site / "manifest.json").write_text('{"name": "My PWA"}\n', encoding="utf-8")
    (site / "index.html").write_text("<html></html>\n", encoding="utf-8")
    before = tree(site)

    for args in (["index"], ["index", "--rebuild"], ["ask", QUESTION]):
        result = cli(*args, data=small_corpus, index=site)
        assert result.returncode == 1, result
        assert "did not write" in result.stderr and "QA_INDEX_DIR" in result.stderr
        assert str(site) in result.stderr  # the folder is named
        assert_no_traceback(result.stderr)
    assert tree(site) == before
    assert sorted(p.name for p in site.iterdir()) == ["index.html", "manifest.json"]


def test_the_index_folder_as_the_repository_ships_it_is_built_into_and_keeps_its_placeholder(small_corpus, tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    (index / ".gitkeep").write_bytes(b"")  # a fresh clone's index/
    result = cli("index", data=small_corpus, index=index)
    assert result.returncode == 0, result.stderr
    assert make_engine(small_corpus, index).ask(QUESTION).answered
    assert (index / ".gitkeep").exists()


def test_an_index_built_before_the_ownership_marker_keeps_answering_and_is_marked_at_its_next_build(
        small_corpus, tmp_path):
    index = tmp_path / "index"
    make_engine(small_corpus, index).build_index(show_bar=False)
    marker = index / ".interview-qa-index"
    marker.unlink()  # as an index written by a version without the marker
    for owned in index.glob("*/.interview-qa-owned"):
        owned.unlink()

    assert make_engine(small_corpus, index).ask(QUESTION).answered
    result = cli("index", data=small_corpus, index=index)
    assert result.returncode == 0, result.stderr
    assert json.loads(marker.read_text(encoding="utf-8"))["program"] == "interview-qa"
    assert make_engine(small_corpus, index).ask(QUESTION).answered
    result = cli("index", "--rebuild", data=small_corpus, index=index)
    assert result.returncode == 0, result.stderr


def test_a_rebuild_removes_only_its_own_files(small_corpus, tmp_path):
    index = tmp_path / "index"
    engine = make_engine(small_corpus, index)
    engine.build_index(show_bar=False)
    # The user later puts files of their own into the index folder, named like ours.
    (index / "gen-2023-report").mkdir()
    (index / "gen-2023-report" / "q1.csv").write_text("q1,10\n", encoding="utf-8")
    (index / "notes.txt").write_text("my notes", encoding="utf-8")

    result = cli("index", "--rebuild", data=small_corpus, index=index)
    assert result.returncode == 0, result.stderr
    assert (index / "gen-2023-report" / "q1.csv").read_text(encoding="utf-8") == "q1,10\n"
    assert (index / "notes.txt").read_text(encoding="utf-8") == "my notes"
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    ours = sorted(p.name for p in index.glob("*-*") if (p / ".interview-qa-owned").exists())
    assert ours == sorted([manifest["generation"], manifest["chroma_dir"]])  # the old build's folders are gone


def test_two_builders_started_together_leave_a_working_index_and_one_clear_message(small_corpus, tmp_path):
    index = tmp_path / "index"
    env = cli_env(small_corpus, index)
    first = subprocess.Popen([QA, "index", "--rebuild"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    second = subprocess.Popen([QA, "index"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = [(p.wait(timeout=600), *p.communicate()) for p in (first, second)]
    codes = sorted(code for code, _, _ in results)
    assert codes in ([0, 0], [0, 3]), results
    for code, _, err in results:
        assert_no_traceback(err)
        if code == 3:
            assert "another build of this index is running (pid" in err
    assert make_engine(small_corpus, index).ask(QUESTION).answered

    # In one process, a second builder gets the same answer instead of a half-built index.
    holder = make_engine(small_corpus, index)
    with holder.store._build_lock(0), pytest.raises(BuildBusy, match=f"pid {os.getpid()}"):
        make_engine(small_corpus, index).build_index(show_bar=False)


@pytest.mark.parametrize("delay", [0.5, 2.5, 5.0])
def test_a_builder_killed_at_any_point_leaves_the_old_index_answering(small_corpus, tmp_path, delay):
    index = tmp_path / "index"
    make_engine(small_corpus, index).build_index(show_bar=False)
    manifest = (index / "manifest.json").read_text(encoding="utf-8")
    (small_corpus / "notes.md").write_text("# 纪要\n\n赛罕区计划新建9个社区食堂。\n", encoding="utf-8")

    builder = subprocess.Popen([QA, "index", "--rebuild"], env=cli_env(small_corpus, index),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    builder.send_signal(signal.SIGKILL)
    builder.wait(timeout=30)

    if builder.returncode == 0:  # it finished first: then the new index must answer
        assert "9个社区食堂" in make_engine(small_corpus, index).ask(QUESTION).text
        return
    answer = make_engine(small_corpus, index).ask(QUESTION)
    if (index / "manifest.json").read_text(encoding="utf-8") == manifest:
        assert answer.answered and "3个社区食堂" in answer.text  # killed before the switch-over: the old index
    else:
        assert "9个社区食堂" in answer.text  # killed after it, while cleaning up: the new index, whole
    # The killed builder's lock died with it: the next build runs and cleans up after it.
    result = cli("index", "--rebuild", data=small_corpus, index=index)
    assert result.returncode == 0, result.stderr
    assert "9个社区食堂" in make_engine(small_corpus, index).ask(QUESTION).text
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(p.name for p in index.glob("gen-*")) == [manifest["generation"]]
    assert sorted(p.name for p in index.glob("chroma-*")) == [manifest["chroma_dir"]]


OLD_NOTES = "# 会议纪要\n\n赛罕区计划新建3个社区食堂，年内投入使用。\n"  # small_corpus's notes.md
NEW_NOTES = "# 会议纪要\n\n赛罕区计划新建7个社区食堂，年内投入使用。\n"
CHANGE = """
import sys
from qa.config import Settings
from qa.engine import Engine
from qa.uploads import add_documents, delete_document
engine = Engine(Settings.from_env())
if sys.argv[1] == "replace":
    add_documents(engine, [("notes.md", sys.argv[2].encode())], replace=True)
else:
    delete_document(engine, "notes.md")
"""


def hidden_leftovers(data: Path) -> list[str]:
    return sorted(p.name for p in data.iterdir() if p.name.startswith((".aside-", ".qa-change-")))


@pytest.mark.parametrize("change", ["replace", "delete"])
def test_a_change_killed_after_setting_the_old_file_aside_is_undone_at_the_next_start(small_corpus, tmp_path,
                                                                                        change):
    index, notes = tmp_path / "index", small_corpus / "notes.md"
    make_engine(small_corpus, index).build_index(show_bar=False)
    manifest = (index / "manifest.json").read_text(encoding="utf-8")
    changer = subprocess.Popen([sys.executable, "-c", CHANGE, change, NEW_NOTES], env=cli_env(small_corpus, index),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # Killed once the old file is hidden and the new one (or none) is in its place, while the index is built.
    deadline = time.monotonic() + 120
    while not (any(p.name.startswith(".aside-") for p in small_corpus.iterdir())
               and (notes.exists() and notes.read_text(encoding="utf-8") == NEW_NOTES) == (change == "replace")):
        assert changer.poll() is None, f"it finished before it could be killed: {changer.communicate()}"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    changer.send_signal(signal.SIGKILL)
    changer.wait(timeout=30)
    assert (index / "manifest.json").read_text(encoding="utf-8") == manifest  # killed before the switch-over
    assert any(name.startswith(".aside-") for name in hidden_leftovers(small_corpus))

    answer = make_engine(small_corpus, index).ask(QUESTION)  # the next start
    assert notes.read_text(encoding="utf-8") == OLD_NOTES
    assert hidden_leftovers(small_corpus) == []
    assert answer.answered and "3个社区食堂" in answer.text and "7个" not in answer.text
    assert make_engine(small_corpus, index).build_index(show_bar=False).embedded == 0  # folder and index agree


def test_a_replace_killed_after_its_index_switched_over_keeps_the_new_version(small_corpus, tmp_path):
    """The state a kill leaves between the switch-over and removing the old version: the change stands."""
    from qa.uploads import add_documents

    index, notes = tmp_path / "index", small_corpus / "notes.md"
    engine = make_engine(small_corpus, index)
    engine.build_index(show_bar=False)
    add_documents(engine, [("notes.md", NEW_NOTES.encode())], replace=True)
    aside = small_corpus / f".aside-{'0' * 32}-notes.md"
    aside.write_text(OLD_NOTES, encoding="utf-8")
    (small_corpus / f".qa-change-{'0' * 32}.json").write_text(json.dumps({"written": [
        {"name": "notes.md", "sha256": hashlib.sha256(NEW_NOTES.encode()).hexdigest(), "aside": aside.name}],
        "removed": []}), encoding="utf-8")

    answer = make_engine(small_corpus, index).ask(QUESTION)
    assert notes.read_text(encoding="utf-8") == NEW_NOTES and hidden_leftovers(small_corpus) == []
    assert "7个社区食堂" in answer.text


def test_an_interrupted_full_build_resumes_where_it_stopped(small_corpus, tmp_path, monkeypatch):
    from qa import store

    whole = make_engine(small_corpus, tmp_path / "whole").build_index(show_bar=False)
    real = store.IndexStore._embed_and_store

    def interrupted(self, collection, chunks, embed_texts, article_of, todo, *rest):
        real(self, collection, chunks, embed_texts, article_of, todo[:16], *rest)
        raise KeyboardInterrupt

    engine = make_engine(small_corpus, tmp_path / "index")
    monkeypatch.setattr(store.IndexStore, "_embed_and_store", interrupted)
    with pytest.raises(KeyboardInterrupt):
        engine.build_index(show_bar=False)
    monkeypatch.setattr(store.IndexStore, "_embed_and_store", real)
    resumed = engine.build_index(show_bar=False)
    assert resumed.embedded == whole.embedded - 16 and resumed.chunks == whole.chunks
    ids = [json.loads((folder / m["generation"] / "corpus.json").read_text(encoding="utf-8"))["chunks"]
           for folder in (tmp_path / "whole", tmp_path / "index")
           for m in [json.loads((folder / "manifest.json").read_text(encoding="utf-8"))]]
    assert ids[0] == ids[1]
    assert engine.ask(QUESTION).answered


def test_a_renamed_file_re_embeds_nothing(small_corpus, tmp_path):
    engine = make_engine(small_corpus, tmp_path / "index")
    engine.build_index(show_bar=False)
    (small_corpus / "notes.md").rename(small_corpus / "minutes-2024.md")
    report = engine.build_index(show_bar=False)
    assert report.embedded == 0 and not report.full_rebuild
    answer = engine.ask(QUESTION)
    assert answer.answered and answer.passages[0].source == "minutes-2024.md"
    # The renamed document is still found by a filter on its new id, through Chroma's metadata too.
    renamed = next(a for a in engine.articles() if a.source == "minutes-2024.md")
    passages = engine.retrieve("社区食堂", k=3, filters={"article_id": [renamed.id]}, mode="dense")
    assert passages and all(p.source == "minutes-2024.md" for p in passages)


def test_a_document_repeating_one_sentence_indexes(small_corpus, tmp_path):
    # Long enough that each copy is a chunk of its own: three chunks with the same text.
    sentence = "根据年度计划安排，" * 10 + "各街道办事处将统一组织开展老旧小区改造和社区服务设施提升工作。"
    (small_corpus / "repeat.md").write_text(f"# 重复\n\n{sentence * 3}\n", encoding="utf-8")
    engine = make_engine(small_corpus, tmp_path / "index")
    report = engine.build_index(show_bar=False)
    assert report.embedded < report.chunks  # the repeated chunk is stored once
    assert engine.ask(QUESTION).answered


def test_a_long_history_is_cut_with_a_notice(engine):
    history = [{"role": "user", "content": "玉泉区要建设多少亩高标准农田？" + "啊" * 40_000},
               {"role": "assistant", "content": "建设2.7万亩高标准农田。"},
               {"role": "user", "content": "新城区今年计划实施多少个区级重点项目？"},
               {"role": "assistant", "content": "全年实施128个区级重点项目建设。"}]
    started = time.perf_counter()
    answer = engine.ask("回民区呢？", history=history)
    assert time.perf_counter() - started < 30  # 53.7 s before the bound; normal is well under a second
    assert answer.answered and "只使用了最近的部分" in answer.notice  # said in the question's language
    many = [{"role": "user", "content": f"问题{i}"} for i in range(500)]
    many.append({"role": "user", "content": "How many key projects does Xincheng District have?"})
    assert "most recent part" in engine.ask("What about Huimin?", history=many).notice


def test_bad_inputs_get_messages_not_tracebacks(engine, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    answer = engine.ask("新城区今年计划实施多少个区级重点项目？\ud800")
    assert answer.answered and "128" in answer.text
    for k in (0, 10_000, "5", True):
        with pytest.raises(ValueError, match="k must be"):
            engine.ask("新城区的重点项目", k=k)
    with pytest.raises(ValueError, match="at most"):
        engine.ask("新城区的重点项目", filters={"article_id": ["x"] * 10_000})
    with pytest.raises(ValueError, match="unknown filter"):
        engine.ask("新城区的重点项目", filters={"colour": ["red"]})

    a_file = tmp_path / "index-file"
    a_file.write_text("not a folder", encoding="utf-8")
    result = cli("ask", "新城区的重点项目", data=tmp_path, index=a_file)
    assert result.returncode == 1 and "is a file, not a folder" in result.stderr
    result = cli("ask", "", data=tmp_path, index=a_file)
    assert result.returncode == 2 and "empty" in result.stderr
    result = cli("ask", "x", data=tmp_path, index=a_file, QA_MAX_K="many")
    assert result.returncode == 2 and "QA_MAX_K" in result.stderr
    assert_no_traceback(caplog.text)


def test_a_read_only_index_keeps_the_old_one_and_says_why(small_corpus, tmp_path, monkeypatch):
    engine = make_engine(small_corpus, tmp_path / "index")
    engine.build_index(show_bar=False)
    before = (tmp_path / "index" / "manifest.json").read_text(encoding="utf-8")

    def refuse(*_):  # as on a read-only mount; chmod does not stop root, who runs the tests here
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(IndexUnavailable, match="could not be written .the previous index is unchanged"):
        engine.build_index(rebuild=True, show_bar=False)
    monkeypatch.undo()
    assert (tmp_path / "index" / "manifest.json").read_text(encoding="utf-8") == before
    assert make_engine(small_corpus, tmp_path / "index").ask(QUESTION).answered


@pytest.mark.parametrize("field", ["generation", "chroma_dir", "collection"])
def test_a_manifest_pointing_outside_the_index_is_refused(small_corpus, tmp_path, field):
    index = tmp_path / "index"
    make_engine(small_corpus, index).build_index(show_bar=False)
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    manifest[field] = "../../../../etc"
    (index / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexUnavailable, match="qa index --rebuild") as error:
        make_engine(small_corpus, index).ask(QUESTION)
    assert "etc" not in error.value.public  # what a client sees names no server path


def test_a_garbled_chroma_file_is_an_error_and_rebuild_recovers(small_corpus, tmp_path):
    index = tmp_path / "index"
    make_engine(small_corpus, index).build_index(show_bar=False)
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    sqlite = index / manifest["chroma_dir"] / "chroma.sqlite3"
    garbage = bytearray(sqlite.read_bytes())
    garbage[100:4000] = os.urandom(3900)  # a damaged page in the middle, header intact
    sqlite.write_bytes(bytes(garbage))

    result = cli("ask", QUESTION, data=small_corpus, index=index)
    assert result.returncode == 1 and "qa index --rebuild" in result.stderr
    assert_no_traceback(result.stderr)
    result = cli("index", "--rebuild", data=small_corpus, index=index)
    assert result.returncode == 0, result.stderr
    result = cli("ask", QUESTION, data=small_corpus, index=index)
    assert result.returncode == 0 and "3个社区食堂" in result.stdout


def test_the_page_keeps_answering_across_a_rebuild_by_another_process(small_corpus, tmp_path):
    index = tmp_path / "index"
    page = make_engine(small_corpus, index)
    page.build_index(show_bar=False)
    assert "3个社区食堂" in page.ask(QUESTION).text

    (small_corpus / "notes.md").write_text("# 纪要\n\n赛罕区计划新建7个社区食堂。\n", encoding="utf-8")
    for args in (["index", "--rebuild"], ["index"]):
        result = cli(*args, data=small_corpus, index=index)
        assert result.returncode == 0, result.stderr
        answer = page.ask(QUESTION)
        assert answer.answered and "7个社区食堂" in answer.text


class _NotChroma(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the standard library's name)
        body = b'{"detail": "this is some other service"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_):
        pass


def test_a_port_that_is_not_chroma_gives_a_clear_error(small_corpus, tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _NotChroma)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        engine = make_engine(small_corpus, tmp_path / "index", chroma_host="127.0.0.1",
                             chroma_port=server.server_address[1])
        with pytest.raises(IndexUnavailable, match="not a Chroma server"):
            engine.build_index(show_bar=False)
    finally:
        server.shutdown()


def test_a_frozen_chroma_server_gives_a_message_within_its_timeout(small_corpus, tmp_path, chroma_server):  # noqa: F811
    engine = make_engine(small_corpus, tmp_path / "index", chroma_host="127.0.0.1", chroma_port=chroma_server,
                         chroma_timeout=2.0)
    engine.build_index(show_bar=False)
    assert engine.ask(QUESTION).answered
    pid = int(subprocess.run(["pgrep", "-f", f"port {chroma_server}"], capture_output=True, text=True)
              .stdout.split()[0])
    os.kill(pid, signal.SIGSTOP)
    try:
        for fresh in (False, True):  # the page that has the index loaded, and a new process
            asker = make_engine(small_corpus, tmp_path / "index", chroma_host="127.0.0.1",
                                chroma_port=chroma_server, chroma_timeout=2.0) if fresh else engine
            started = time.perf_counter()
            with pytest.raises(IndexUnavailable) as error:
                asker.ask("回民区确定了多少个重点项目？")
            assert time.perf_counter() - started < 15
            assert "Chroma server" in error.value.public or "vector store" in error.value.public
    finally:
        os.kill(pid, signal.SIGCONT)


def test_an_engine_reads_a_settings_error_as_bad_input():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QA_CHROMA_TIMEOUT", "-1")
        from qa.config import Settings, SettingsError

        with pytest.raises(SettingsError, match="QA_CHROMA_TIMEOUT"):
            Engine(Settings.from_env())


def test_a_big_one_line_file_indexes_with_progress_into_bounded_citable_units(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    sentence = "第{n}号仓库于本季度完成了货架更新，新增{n}个储位，并调整了夜间值班安排。"
    text = "".join(sentence.format(n=n) for n in range(6_000))  # ~230k characters, not one line break
    (data / "warehouse-log.txt").write_text(text, encoding="utf-8")
    seen: list[tuple[int, int, str]] = []
    engine = make_engine(data, tmp_path / "index", max_paragraph_chars=800)
    report = engine.build_index(progress=lambda done, total, what: seen.append((done, total, what)),
                                show_bar=False)
    assert report.paragraphs >= len(text) // 800
    assert seen and seen[-1][0] == seen[-1][1] == report.embedded  # progress reached the end
    assert [done for done, _, _ in seen] == sorted(done for done, _, _ in seen)
    answer = engine.ask("第4321号仓库新增了多少个储位？")
    assert answer.answered and "4321个储位" in answer.text
    assert all(len(c.text) <= 800 for c in answer.citations)  # a citation never shows the whole file


def test_questions_asked_while_the_index_is_switched_never_fail(small_corpus, tmp_path):
    """Four threads ask without pause while the same process updates, uploads to, deletes from and rebuilds
    the index: each switch-over replaces the loaded index under questions still running on it."""
    from qa.uploads import add_documents, delete_document

    engine = make_engine(small_corpus, tmp_path / "index")
    engine.build_index(show_bar=False)
    assert engine.ask(QUESTION).answered
    stop, errors, answered = threading.Event(), [], []

    def keep_asking() -> None:
        while not stop.is_set():
            try:
                answered.append(engine.ask(QUESTION).answered)
            except Exception as error:  # noqa: BLE001 - every failure is what the test counts
                errors.append(f"{type(error).__name__}: {error}")

    askers = [threading.Thread(target=keep_asking) for _ in range(4)]
    for asker in askers:
        asker.start()
    try:
        for n in range(3):
            add_documents(engine, [(f"通知{n}.md", f"# 通知{n}\n\n图书馆第{n}期新书共{n + 2}万册。\n".encode())])
            delete_document(engine, f"通知{n}.md")
            (small_corpus / "notes.md").write_text(f"# 会议纪要\n\n第{n}次会议：赛罕区计划新建3个社区食堂。\n",
                                                   encoding="utf-8")
            engine.build_index(show_bar=False)
            engine.build_index(rebuild=True, show_bar=False)
    finally:
        stop.set()
        for asker in askers:
            asker.join()
    assert errors == []
    assert len(answered) > 20 and all(answered)


@pytest.mark.parametrize("loss", ["sqlite removed", "sqlite emptied", "folder removed"])
def test_lost_vectors_are_found_and_embedded_again_at_the_next_update(small_corpus, tmp_path, loss):
    import shutil

    from qa.vectorstores import make_vector_store

    index = tmp_path / "index"
    built = make_engine(small_corpus, index).build_index(show_bar=False)
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    folder = index / manifest["chroma_dir"]
    if loss == "sqlite removed":
        (folder / "chroma.sqlite3").unlink()
    elif loss == "sqlite emptied":
        (folder / "chroma.sqlite3").write_bytes(b"")
    else:
        shutil.rmtree(folder)
    (small_corpus / "new.md").write_text("# 通知\n\n图书馆新馆共有藏书86万册。\n", encoding="utf-8")
    report = make_engine(small_corpus, index).build_index(show_bar=False)
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    table = json.loads((index / manifest["generation"] / "corpus.json").read_text(encoding="utf-8"))
    listed = {chunk["id"] for chunk in table["chunks"]}
    collection = make_vector_store(make_engine(small_corpus, index).settings).open(
        manifest["collection"], index / manifest["chroma_dir"])
    try:
        assert set(collection.ids()) == listed
    finally:
        collection.close()
    assert report.embedded == len(listed) > built.embedded
    assert any("lost" in warning and "embedded again" in warning for warning in report.warnings)
    assert (index / manifest["chroma_dir"] / ".interview-qa-owned").exists()
    again = make_engine(small_corpus, index).build_index(show_bar=False)
    assert again.embedded == 0 and not any("lost" in warning for warning in again.warnings)
    assert make_engine(small_corpus, index).ask(QUESTION).answered


@pytest.mark.skipif(os.geteuid() == 0, reason="chmod does not stop root from writing")
def test_a_read_only_index_folder_is_named_as_read_only_not_as_damaged(small_corpus, tmp_path):
    index = tmp_path / "index"
    make_engine(small_corpus, index).build_index(show_bar=False)
    folders = [index, *(path for path in index.iterdir() if path.is_dir())]
    for path in [*folders, *(f for folder in folders for f in folder.iterdir() if f.is_file())]:
        path.chmod(path.stat().st_mode & ~0o222)
    try:
        with pytest.raises(IndexUnavailable) as refused:
            make_engine(small_corpus, index).ask(QUESTION)
        assert refused.value.public.startswith("the index folder is read-only")
        assert str(index) in str(refused.value) and "damaged" not in str(refused.value)
    finally:
        for path in [*folders, *(f for folder in folders for f in folder.iterdir() if f.is_file())]:
            path.chmod(path.stat().st_mode | 0o200)


def test_a_read_only_index_folder_is_named_as_read_only_even_to_root(small_corpus, tmp_path, monkeypatch):
    """As the chmod test above, for a user chmod does not stop (root, or a read-only mount's view of it)."""
    index = tmp_path / "index"
    make_engine(small_corpus, index).build_index(show_bar=False)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: not (mode & os.W_OK and Path(path).is_relative_to(
        index)) and real_access(path, mode, **kw))
    with pytest.raises(IndexUnavailable) as refused:
        make_engine(small_corpus, index).ask(QUESTION)
    assert refused.value.public.startswith("the index folder is read-only") and str(index) in str(refused.value)
