"""A stand-in for an OpenAI-compatible LLM server (Ollama, vLLM, llama.cpp …) for the tests.

Real HTTP on 127.0.0.1, the real protocol: POST /v1/chat/completions answers with JSON, or with
server-sent events when the request asks to stream; GET /v1/models lists the model. Each reply is
scripted by the test, and every request is recorded for its assertions. Besides replies and errors it
can misbehave as real servers do: hang, trickle a reply, send a huge one; FrozenServer is a stopped process.

    with StandInLLM() as server:
        server.script(Reply("新城区全年实施128个区级重点项目建设[1]。"))
        ... Settings(llm_base_url=server.base_url, llm_model=server.model) ...
        server.requests[0]["messages"]
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    """A model's reply: streamed in pieces of `piece` characters when the request asks to stream."""

    text: str
    piece: int = 4
    delay: float = 0.0  # seconds between streamed pieces


@dataclass
class Error:
    """An HTTP error with an OpenAI-style error body, as servers send when a model is missing or crashes."""

    status: int = 500
    message: str = "llama runner process has terminated: exit status 2"


@dataclass
class Garbage:
    """A 200 reply that is not a chat completion: broken JSON, an HTML page, or broken stream events."""

    body: str = '{"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"index": 0, "mess'
    content_type: str = "application/json"


@dataclass
class Hang:
    """No answer for `seconds`: longer than the client's timeout. Ends at once when the server stops."""

    seconds: float = 30.0


@dataclass
class Trickle:
    """A reply that arrives a little at a time, `every` seconds: one event per character when streamed,
    the JSON body in about as many slices when not. Each piece alone comes well within a read timeout;
    only a deadline for the whole reply stops it. Ends at once when the server stops."""

    text: str = "新城区今年将推进128个区级重点项目[1]。"
    every: float = 2.0


@dataclass
class Huge:
    """A reply of `chars` characters (1,000,000 汉字 are 3 MB of UTF-8), sent as fast as the client reads.

    Both forms are encoded when the reply is made, so serving it allocates nothing a test measuring the
    client's memory would count."""

    chars: int = 1_000_000
    character: str = "长"
    model: str = "qwen2.5:7b"

    def __post_init__(self) -> None:
        text = self.character * self.chars
        self.body = json.dumps(completion(text, self.model, {}), ensure_ascii=False).encode()
        self.events = b"".join(
            f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode()
            for chunk in completion_chunks(text, self.model, 4096)
        ) + b"data: [DONE]\n\n"


Scripted = Reply | Error | Garbage | Hang | Trickle | Huge


class FrozenServer:
    """A server whose process is stopped (SIGSTOP): the kernel accepts connections on its port, and
    nothing ever reads a request or answers it."""

    def __init__(self):
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)  # never accept(): the kernel's backlog completes the handshakes

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}/v1"

    def __enter__(self) -> FrozenServer:
        return self

    def __exit__(self, *exc) -> None:
        self._socket.close()


class StandInLLM:
    """The server; a test scripts its replies in order, or with a function from request to reply."""

    def __init__(self, model: str = "qwen2.5:7b"):
        self.model = model
        self.requests: list[dict] = []  # each: {"path", "headers", "body" (parsed JSON) } + body keys
        self.responder: Callable[[dict], Scripted] | None = None
        self._replies: queue.Queue[Scripted] = queue.Queue()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True  # a hanging request never keeps the test process alive
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def script(self, *replies: Scripted) -> None:
        for reply in replies:
            self._replies.put(reply)

    def start(self) -> StandInLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes every Hang
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> StandInLLM:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def next_reply(self, request: dict) -> Scripted:
        if self.responder is not None:
            return self.responder(request)
        try:
            return self._replies.get_nowait()
        except queue.Empty:
            return Error(500, "the stand-in server has no scripted reply left")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # quiet: pytest shows what matters
                pass

            def do_GET(self):
                if self.path.rstrip("/") == "/v1/models":
                    body = {
                        "object": "list",
                        "data": [{"id": server.model, "object": "model", "owned_by": "me"}],
                    }
                    self._send_json(200, body)
                else:
                    self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._send_json(
                        400, {"error": {"message": "invalid JSON body", "type": "invalid_request"}}
                    )
                    return
                request = {"path": self.path, "headers": dict(self.headers), "body": body, **body}
                server.requests.append(request)
                reply = server.next_reply(request)
                if isinstance(reply, Hang):
                    server._stopping.wait(reply.seconds)
                    reply = Reply("（迟到的回答）")
                if server._stopping.is_set():
                    return
                if isinstance(reply, Error):
                    error = {"message": reply.message, "type": "api_error", "param": None, "code": None}
                    self._send_json(reply.status, {"error": error})
                elif isinstance(reply, Garbage):
                    self._send(200, reply.body.encode(), reply.content_type)
                elif isinstance(reply, Trickle):
                    self._trickle(reply, body)
                elif isinstance(reply, Huge):
                    self._huge(reply, body)
                elif body.get("stream"):
                    self._stream(reply, body)
                else:
                    self._send_json(200, completion(reply.text, server.model, body))

            def _stream(self, reply: Reply, request: dict) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    for chunk in completion_chunks(reply.text, server.model, reply.piece):
                        self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                        self.wfile.flush()
                        if reply.delay:
                            time.sleep(reply.delay)
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up: fine for a stand-in

            def _trickle(self, reply: Trickle, request: dict) -> None:
                if request.get("stream"):
                    events = [
                        f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode()
                        for chunk in completion_chunks(reply.text, server.model, 1)
                    ] + [b"data: [DONE]\n\n"]
                    self._start(200, "text/event-stream")
                else:
                    payload = json.dumps(completion(reply.text, server.model, request), ensure_ascii=False).encode()
                    size = max(1, len(payload) // max(1, len(reply.text)))
                    events = [payload[i : i + size] for i in range(0, len(payload), size)]
                    self._start(200, "application/json", len(payload))
                try:
                    for event in events:
                        if server._stopping.wait(reply.every):
                            return
                        self.wfile.write(event)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _huge(self, reply: Huge, request: dict) -> None:
                try:
                    if request.get("stream"):
                        payload = memoryview(reply.events)
                        self._start(200, "text/event-stream")
                    else:
                        payload = memoryview(reply.body)
                        self._start(200, "application/json", len(payload))
                    for i in range(0, len(payload), 65536):
                        self.wfile.write(payload[i : i + 65536])
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading: what a reply cap should do

            def _start(self, status: int, content_type: str, length: int | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                if length is None:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                else:
                    self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.flush()

            def _send_json(self, status: int, body: dict) -> None:
                self._send(status, json.dumps(body, ensure_ascii=False).encode(), "application/json")

            def _send(self, status: int, payload: bytes, content_type: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


def completion(text: str, model: str, request: dict) -> dict:
    """A non-streamed chat completion, shaped as OpenAI (and Ollama's /v1) send it."""
    prompt_chars = sum(len(str(m.get("content", ""))) for m in request.get("messages", []))
    return {
        "id": "chatcmpl-standin",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_standin",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_chars,
            "completion_tokens": len(text),
            "total_tokens": prompt_chars + len(text),
        },
    }


def completion_chunks(text: str, model: str, piece: int) -> list[dict]:
    """The streamed form: a role chunk, the text in pieces, a closing chunk with finish_reason."""

    def chunk(delta: dict, finish_reason: str | None = None) -> dict:
        return {
            "id": "chatcmpl-standin",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_standin",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    pieces = [text[i : i + piece] for i in range(0, len(text), piece)]
    return [
        chunk({"role": "assistant", "content": ""}),
        *(chunk({"content": p}) for p in pieces),
        chunk({}, "stop"),
    ]
