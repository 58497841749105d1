"""`qa index | ask | chat | eval`: a thin command line over the Python API."""

from __future__ import annotations

import argparse
import json
import sys
import time

from .config import Settings
from .text import printable
from .types import place_in_file


def _say(text: str, file=None) -> None:
    """Print text from files and documents: a control character in a file name or a paragraph (an ESC that
    would retitle or clear the terminal) is shown as an escape, never sent to the terminal."""
    print(printable(text, keep="\n\t"), file=file or sys.stdout)


def _llm_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--llm-base-url", help="OpenAI-compatible API, e.g. http://127.0.0.1:11434/v1")
    parser.add_argument("--llm-model", help="model name on that server")
    parser.add_argument("--llm-api-key", help="API key, if the server needs one")
    parser.add_argument("--llm-timeout", type=float, help="seconds to wait for the model (default 60)")


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        data_dir=getattr(args, "data", None),
        llm_base_url=getattr(args, "llm_base_url", None),
        llm_model=getattr(args, "llm_model", None),
        llm_api_key=getattr(args, "llm_api_key", None),
        llm_timeout=getattr(args, "llm_timeout", None),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qa", description="Ask questions of the documents in the data folder.")
    commands = parser.add_subparsers(dest="command", required=True)
    index = commands.add_parser("index", help="build or update the index")
    index.add_argument("--rebuild", action="store_true", help="re-embed everything into a new index")
    index.add_argument("--data", help="data folder (default: data/ or QA_DATA_DIR)")
    ask = commands.add_parser("ask", help="answer a question, citing the source paragraphs")
    ask.add_argument("question")
    ask.add_argument("--k", type=int, default=5, help="passages to retrieve (default 5)")
    ask.add_argument("--json", action="store_true", help="print the whole answer as JSON")
    ask.add_argument("--verbose", action="store_true",
                     help="print how long each part of the start-up and the question took (to stderr)")
    _llm_options(ask)
    chat = commands.add_parser("chat", help="an interactive session: questions from stdin, follow-ups included")
    chat.add_argument("--k", type=int, default=5, help="passages to retrieve (default 5)")
    chat.add_argument("--json", action="store_true", help="print each answer as one line of JSON")
    _llm_options(chat)
    commands.add_parser("eval", help="run eval/run.py (its options follow)", add_help=False)
    args, rest = parser.parse_known_args(argv)

    if args.command == "eval":
        from eval.run import main as run_eval

        return run_eval(rest)
    if rest:
        parser.error(f"unrecognised arguments: {' '.join(rest)}")

    imports_started = time.perf_counter()
    from .config import SettingsError
    from .embeddings import EmbeddingServerError
    from .engine import BuildBusy, Engine, IndexUnavailable, check_k

    timings = {"python start-up": imports_started - _process_start(),
               "qa imports": time.perf_counter() - imports_started}

    # Exit codes: 2 for bad input (the question, an option, a setting), 1 for a fault (the index, a
    # server, the disk), 3 when another build holds the index.
    try:
        engine = Engine(_settings(args))
        if args.command == "index":
            report = engine.build_index(args.data, rebuild=args.rebuild)
            for warning in report.warnings:
                _say(f"warning: {warning}", file=sys.stderr)
            _say(report.summary())
            return 0
        if args.command == "chat":
            check_k(args.k, engine.settings.max_k)
            return _chat(engine, args.k, args.json)
        verbose = getattr(args, "verbose", False)
        if verbose:
            timings.update(engine.warm())
        started = time.perf_counter()
        answer = engine.ask(args.question, k=args.k)
        timings["question"] = time.perf_counter() - started
        if verbose:
            _print_timings(timings)
    except BuildBusy as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    except (ValueError, SettingsError) as error:
        _say(f"error: {error}", file=sys.stderr)
        return 2
    except (IndexUnavailable, EmbeddingServerError, OSError) as error:
        _say(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_answer(answer)
    return 0


def _print_answer(answer) -> None:
    if answer.notice:
        _say(f"note: {answer.notice}")
    _say(answer.text)
    if answer.unsupported:
        print("\nnot supported by the cited paragraphs:")
        for sentence in answer.unsupported:
            _say(f"  - {sentence}")
    if answer.citations:
        print()
    for citation in answer.citations:
        where = place_in_file(citation.paragraph, citation.page, citation.row, "en")
        _say(f"[{citation.n}] {citation.title} · {where}")
        _say(f"    {citation.text}")
    if not answer.answered and answer.passages:
        print("\nclosest passages:")
        for passage in answer.passages[:3]:
            where = place_in_file(passage.paragraph, passage.page, passage.row, "en")
            _say(f"  {passage.title} · {where}: {passage.text[:80]}…")


def _chat(engine, k: int, json_lines: bool) -> int:
    """Questions from stdin, one a line, each answered with the conversation so far as its history (as the
    page keeps it): a follow-up ("那去年呢？") is read against the questions before it. An empty line is
    skipped; `/new` starts a new conversation; `quit`, `exit` or the end of input ends the session."""
    from .embeddings import EmbeddingServerError
    from .engine import IndexUnavailable, bounded_history

    interactive = sys.stdin.isatty()
    if interactive:
        import readline  # noqa: F401 - line editing and recall for input()

        print("Ask about the documents; /new starts a new conversation, quit ends.", file=sys.stderr)
    history: list[dict] = []
    while True:
        try:
            question = input("> " if interactive else "").strip()
        except EOFError:
            return 0
        except KeyboardInterrupt:
            print(file=sys.stderr)
            return 130
        if not question:
            continue
        if question.lower() in QUIT_WORDS:
            return 0
        if question == "/new":
            history = []
            print("(new conversation)", file=sys.stderr)
            continue
        try:
            answer = engine.ask(question, k=k, history=history)
        except ValueError as error:  # this question is refused; the session goes on
            print(f"error: {error}", file=sys.stderr)
            continue
        except (IndexUnavailable, EmbeddingServerError, OSError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        if json_lines:
            print(json.dumps(answer.to_dict(), ensure_ascii=False), flush=True)
        else:
            _print_answer(answer)
            print(flush=True)
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]
        # Only what the next question can use is kept: the engine would drop the rest with a notice each time.
        history, _ = bounded_history(history, engine.settings.max_history_turns, engine.settings.max_history_chars)


QUIT_WORDS = ("quit", "exit", "/quit", "/exit", "退出")


def _process_start() -> float:
    """When this process started, on the perf_counter clock: the interpreter's own start-up counts too."""
    try:
        import psutil

        return time.perf_counter() - (time.time() - psutil.Process().create_time())
    except (ImportError, OSError):
        return time.perf_counter()


def _print_timings(timings: dict[str, float]) -> None:
    from . import bilingual

    for part, seconds in timings.items():
        print(f"{part:>36}: {seconds * 1000:7.0f} ms", file=sys.stderr)
    if bilingual.load_seconds:
        print(f"{'of it the English dictionary':>36}: {bilingual.load_seconds * 1000:7.0f} ms", file=sys.stderr)
    print(f"{'first answer after process start':>36}: {sum(timings.values()) * 1000:7.0f} ms", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
