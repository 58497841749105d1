"""Load on the HTTP API: N concurrent clients asking the question set through POST /api/ask, against a real
server process (app.py); latency percentiles, errors and the server's memory, so that a regression shows."""

from __future__ import annotations

import concurrent.futures
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rss_mib(pid: int) -> tuple[float, float]:
    """Resident and peak resident memory of a process, from /proc (MiB)."""
    fields = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def start_server(index_dir: Path, data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "QA_INDEX_DIR": str(index_dir), "QA_DATA_DIR": str(data_dir),
           "GRADIO_ANALYTICS_ENABLED": "False", "ANONYMIZED_TELEMETRY": "False"}
    env.pop("QA_LLM_BASE_URL", None)
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited: {server.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"{base}/api/status", timeout=5).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.kill()
    raise RuntimeError("the server did not start within 300 s")


def run_clients(base: str, questions: list[str], clients: int, requests_per_client: int) -> dict:
    def one_client(offset: int) -> list[tuple[float, bool]]:
        results = []
        with httpx.Client(base_url=base, timeout=120) as client:
            for i in range(requests_per_client):
                question = questions[(offset * requests_per_client + i) % len(questions)]
                started = time.perf_counter()
                try:
                    ok = client.post("/api/ask", json={"question": question}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                results.append(((time.perf_counter() - started) * 1000, ok))
        return results

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        outcomes = [r for rs in pool.map(one_client, range(clients)) for r in rs]
    seconds = time.perf_counter() - started
    latencies = [ms for ms, _ in outcomes]
    return {
        "clients": clients,
        "requests": len(outcomes),
        "errors": sum(1 for _, ok in outcomes if not ok),
        "p50_ms": round(_percentile(latencies, 0.50)),
        "p95_ms": round(_percentile(latencies, 0.95)),
        "requests_per_second": round(len(outcomes) / seconds, 2),
    }


def bench_load(index_dir: Path, data_dir: Path, questions: list[str], clients=(8, 32),
               requests_per_client: int = 5) -> dict:
    server, base = start_server(index_dir, data_dir)
    try:
        rss_start, _ = _rss_mib(server.pid)
        runs = []
        for count in clients:
            runs.append(run_clients(base, questions, count, requests_per_client))
            runs[-1]["rss_mib_after"] = round(_rss_mib(server.pid)[0])
        _, peak = _rss_mib(server.pid)
        log_text = ""
    finally:
        server.terminate()
        try:
            log_text = server.communicate(timeout=30)[1]
        except subprocess.TimeoutExpired:
            server.kill()
            log_text = ""
    return {"runs": runs, "rss_mib_start": round(rss_start), "rss_mib_peak": round(peak),
            "tracebacks_in_log": log_text.count("Traceback")}
