"""`qa index | ask | eval`: a thin command line over the Python API."""

from __future__ import annotations

import argparse
import json
import sys

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
    _llm_options(ask)
    commands.add_parser("eval", help="run eval/run.py (its options follow)", add_help=False)
    args, rest = parser.parse_known_args(argv)

    if args.command == "eval":
        from eval.run import main as run_eval

        return run_eval(rest)
    if rest:
        parser.error(f"unrecognised arguments: {' '.join(rest)}")

    from .config import SettingsError
    from .embeddings import EmbeddingServerError
    from .engine import BuildBusy, Engine, IndexUnavailable

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
        answer = engine.ask(args.question, k=args.k)
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
        return 0
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
