"""The HTTP API beside the page: JSON questions, documents and status, and an OpenAI-compatible chat endpoint."""

from __future__ import annotations

import hmac
import html
import ipaddress
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Iterator
from itertools import chain
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, File, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from .config import Settings
from .embeddings import EmbeddingServerError
from .store import BuildBusy, IndexUnavailable
from .types import Answer, place_in_file
from .uploads import ChangeReport, UploadError, add_documents, delete_document

log = logging.getLogger(__name__)

MODEL_ID = "interview-qa"
# A JSON request is a question, a short history and filters: a megabyte is far more than any of them needs,
# and a cap keeps a caller from making the server parse an unbounded body.
MAX_JSON_BODY_BYTES = 1_000_000
# Appended to the content of /v1 answers; found again (and dropped) when a client sends the answer back as
# history, so the sources of one answer do not read as part of the next question's context.
SOURCES_HEADING = "**来源 · Sources**"
NOTICE_MARK = "ⓘ"


class ApiError(Exception):
    """A request the API refuses: an HTTP status and a message for the caller."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
        self.extra = extra


def _valid_text(value: str) -> str:
    # A lone surrogate cannot be encoded as UTF-8: it would fail deep in the answerer or in the reply.
    if any("\ud800" <= character <= "\udfff" for character in value):
        raise ValueError("holds an unpaired surrogate, which is not valid Unicode text")
    return value


Text = Annotated[StrictStr, AfterValidator(_valid_text)]
FilterValue = Text | list[Text]


# ---------------------------------------------------------------- request and response models


class HistoryMessage(BaseModel):
    """One earlier message of the conversation, OpenAI-style."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant", "system"]
    content: Text


class AskRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"question": "甲公司2023年的营业收入是多少？"}, {
            "question": "那乙公司呢？",
            "history": [{"role": "user", "content": "甲公司2023年的营业收入是多少？"},
                        {"role": "assistant", "content": "甲公司2023年营业收入为12.5亿元[1]"}],
            "k": 5,
        }]},
    )
    question: Text = Field(description="the question, in Chinese or English (at most QA_MAX_QUESTION_CHARS "
                                       "characters: a longer one gets 413)")
    history: list[HistoryMessage] = Field(default_factory=list, description="earlier messages, oldest first; "
                                          "beyond QA_MAX_HISTORY_TURNS messages or QA_MAX_HISTORY_CHARS characters "
                                          "the oldest are left out, with a notice")
    filters: dict[Text, FilterValue] | None = Field(
        default=None, description='search only some articles: {"article_id": [...]} and/or {"district": [...]}'
    )
    k: StrictInt = Field(default=5, description="passages to retrieve, 1 … QA_MAX_K")


class CitationOut(BaseModel):
    n: int = Field(description="the [n] marker in the answer text")
    title: str
    section: str = ""
    source: str = Field("", description="the file in the data folder")
    paragraph: int = Field(description="paragraph number in its article; 0 = the article header")
    page: int = Field(0, description="the page of a PDF the paragraph starts on; 0 = a format without pages")
    row: int = Field(0, description="the spreadsheet row it was read from; 0 = not a spreadsheet")
    paragraph_id: str
    text: str = Field(description="the whole cited paragraph")
    quote: str = Field(description="the sentence(s) of the paragraph the answer uses")
    score: float


class PassageOut(BaseModel):
    title: str
    section: str = ""
    source: str = ""
    paragraph: int
    page: int = 0
    row: int = 0
    paragraph_id: str
    text: str
    score: float


class AnswerOut(BaseModel):
    answer: str = Field(description="the answer, with [n] markers; when answered is false, why not")
    answered: bool
    citations: list[CitationOut]
    passages: list[PassageOut] = Field(description="the retrieved paragraphs, best first")
    mode: str = Field(description='"extractive" or the LLM model that wrote the answer')
    notice: str = Field(description="what the caller should know (a cut question or history, an LLM fallback)")
    unsupported: list[str] = Field(default_factory=list,
                                   description="sentences whose facts no cited paragraph holds (LLM answers)")
    lead: str = Field("", description="what the answer says beside its quotes (the span that answers, a computed "
                                      "result), with its [n] markers; empty when the answerer does not say one")
    quotes: list[str] = Field(default_factory=list, description="the source sentences the answer shows, as written")
    confidence: float | None = Field(None, description="the answerer's score, on which its refusal threshold is "
                                                       "set; null when it gives none (LLM answers)")


class ErrorOut(BaseModel):
    error: str


class ArticleOut(BaseModel):
    id: str = Field(description='use in filters: {"article_id": [id]}')
    title: str
    paragraphs: int


class DocumentOut(BaseModel):
    source: str
    bytes: int
    paragraphs: int
    articles: list[ArticleOut]


class DocumentsOut(BaseModel):
    documents: list[DocumentOut]


class ChangeOut(BaseModel):
    added: list[str] = []
    replaced: list[str] = []
    removed: list[str] = []
    index: str = Field("", description="what the index update did")
    warnings: list[str] = []


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: Text | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: Text | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: StrictBool = False


class ChatRequest(BaseModel):
    # temperature, max_tokens and the like are accepted and ignored: the answer comes from the documents.
    model_config = ConfigDict(extra="allow")
    model: StrictStr = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    k: StrictInt = Field(default=5, description="extension: passages to retrieve")
    filters: dict[Text, FilterValue] | None = Field(default=None, description="extension: as in /api/ask")


# ---------------------------------------------------------------- converting answers


def _field(record: Any, name: str, default: Any = "") -> Any:
    # section and source arrive on Citation/Passage with the document layouts; until then they are empty.
    value = getattr(record, name, default)
    return default if value is None else value


def answer_json(answer: Answer) -> dict:
    """The /api/ask body for an Answer."""
    source_of = {p.paragraph_id: _field(p, "source") for p in answer.passages}
    return {
        "answer": answer.text,
        "answered": answer.answered,
        "citations": [
            {
                "n": c.n, "title": c.title, "section": _field(c, "section"),
                "source": _field(c, "source") or source_of.get(c.paragraph_id, ""),
                "paragraph": c.paragraph, "page": _field(c, "page", 0), "row": _field(c, "row", 0),
                "paragraph_id": c.paragraph_id, "text": c.text, "quote": c.quote,
                "score": round(float(c.score), 4),
            }
            for c in answer.citations
        ],
        "passages": [
            {
                "title": p.title, "section": _field(p, "section"), "source": _field(p, "source"),
                "paragraph": p.paragraph, "page": _field(p, "page", 0), "row": _field(p, "row", 0),
                "paragraph_id": p.paragraph_id, "text": p.text,
                "score": round(float(p.score), 4),
            }
            for p in answer.passages
        ],
        "mode": answer.mode,
        "notice": answer.notice,
        "unsupported": list(answer.unsupported),
        "lead": answer.lead,
        "quotes": list(answer.quotes),
        "confidence": answer.confidence,
    }


def _markdown_text(text: str) -> str:
    """A quote or a title on one line, for a Markdown client (see _markdown_answer)."""
    return _markdown_answer(" ".join(text.split()))


def _markdown_answer(text: str) -> str:
    """An answer's text for a Markdown client: what it quotes from a document (a <script>, an <img onerror>,
    a [link](javascript:…)) is shown as written, never rendered; lines, 汉字 and [n] markers stay as they are.
    The escaped text of a prefix is a prefix of the escaped whole, so a stream can send it in deltas."""
    return html.escape(text, quote=False).replace("](", "]\\(")


def chat_extras(answer: Answer, citations: list[dict]) -> str:
    """What follows the answer text in a /v1 reply: the notice, then the sources as a Markdown list."""
    parts = []
    if answer.notice:
        parts.append(f"*{NOTICE_MARK} {_markdown_text(answer.notice)}*")
    if answer.answered and citations:
        lines = [SOURCES_HEADING, ""]
        for citation in citations:
            where = ("标题 · header" if citation["paragraph"] == 0
                     else place_in_file(citation["paragraph"], citation.get("page", 0), citation.get("row", 0)))
            head = " · ".join(part for part in (citation["title"], citation["section"], where) if part)
            source = f" ({_markdown_text(citation['source'])})" if citation["source"] else ""
            quote = citation["quote"] or citation["text"]
            lines.append(f"[{citation['n']}] {_markdown_text(head)}{source}  ")
            lines.append(f"> {_markdown_text(quote)}")
            lines.append("")
        parts.append("\n".join(lines).rstrip())
    return "".join(f"\n\n{part}" for part in parts)


def _strip_extras(content: str) -> str:
    """An earlier /v1 answer sent back as history, without the notice and sources this API appended."""
    cut = len(content)
    for marker in (f"\n\n*{NOTICE_MARK} ", f"\n\n{SOURCES_HEADING}"):
        position = content.find(marker)
        if position >= 0:
            cut = min(cut, position)
    return content[:cut]


def _message_text(message: ChatMessage) -> str:
    if isinstance(message.content, str):
        return message.content
    return "\n".join(part.text for part in message.content or [] if part.type == "text" and part.text)


# ---------------------------------------------------------------- errors


def public_message(error: BaseException | str, settings: Settings) -> str:
    """An error's message fit for a client: the data and index folders named, any other server path hidden."""
    text = str(error)
    for folder, label in ((settings.index_dir, "the index folder"), (settings.data_dir, "the data folder")):
        for form in sorted({str(Path(folder)), str(Path(folder).resolve())}, key=len, reverse=True):
            text = text.replace(form, label)
    # A server's address (the embedding or LLM server's) is the operator's business: the log has it.
    text = re.sub(r"\s+at\s+[a-z][a-z0-9+.-]*://[^\s;,)]+", "", text, flags=re.IGNORECASE)
    text = re.sub(r"[a-z][a-z0-9+.-]*://[^\s;,)]+", "…", text, flags=re.IGNORECASE)
    return re.sub(r"(?<![\w.:/])/(?:[^\s'\"():,;/]+/?)+", "…", text)


def _validation_message(error: RequestValidationError) -> tuple[int, str]:
    problems = []
    for item in error.errors():
        if item.get("type") == "json_invalid":
            return 400, "the request body is not valid JSON"
        where = ".".join(str(part) for part in item.get("loc", ()) if part != "body") or "body"
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return 422, "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")


def _error_body(request_path: str, status: int, message: str, extra: dict | None = None) -> dict:
    if request_path.startswith("/v1/"):  # OpenAI clients read {"error": {"message", "type", "code"}}
        kind = "invalid_request_error" if status < 500 else "server_error"
        if status == 401:
            kind = "authentication_error"
        extra = extra or {}
        return {"error": {"message": message, "type": kind, "param": extra.get("param"),
                          "code": extra.get("code", status)}}
    return {"error": message, **(extra or {})}


class BodyLimit:
    """ASGI middleware: a request body over its route's limit gets 413 before anything parses it."""

    def __init__(self, app, limit_for: Callable[[str, str], int | None]):
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope["method"], scope["path"])
        if limit is None:
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_large = f"the request body is larger than {limit:,} bytes"
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await _send_error(scope, send, 413, too_large)
        received = 0
        started = False

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge()
            return message

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _TooLarge:
            if not started:
                await _send_error(scope, send, 413, too_large)


class _TooLarge(Exception):
    pass


async def _send_error(scope, send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    """A JSON error straight from a middleware, before any route has seen the request."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps(_error_body(scope["path"], status, message), ensure_ascii=False).encode()
    extra = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *extra]})
    await send({"type": "http.response.body", "body": body})


def is_loopback(host: str) -> bool:
    """Whether an address (or a Host header's name) is this machine only."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:  # a host name other than localhost may resolve to anything
        return False


class SameOrigin:
    """ASGI middleware against a web page in the user's browser driving this server: a request from another
    origin is refused, whatever it reaches (a form posted to /api/documents, or the page's own events through
    Gradio's queue, call, run and upload routes, which accept any localhost origin), and a server on loopback
    without a key answers only requests addressed to a loopback name, so a name re-bound to 127.0.0.1 (DNS
    rebinding) reaches nothing. A browser sends Origin with every cross-origin request a script makes, and
    with every same-origin one that changes anything, so the page's own use always passes."""

    def __init__(self, app, settings: Settings):
        self.app = app
        self.settings = settings

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}
        host = headers.get("host", "")
        local_only = not self.settings.api_key and is_loopback(self.settings.host)
        if local_only and host and not is_loopback(urlsplit(f"//{host}").hostname or ""):
            return await _send_error(scope, send, 403, "this server answers only on localhost; set an API key "
                                                       "(QA_API_KEY) to serve it under another name")
        origin = headers.get("origin")
        # An origin named in QA_CORS_ORIGINS may call the API (a front-end of the user's own); never the page's
        # routes, which change documents with no key.
        allowed = origin in self.settings.allowed_origins and scope["path"].startswith(("/api/", "/v1/"))
        if origin is not None and urlsplit(origin).netloc != host and not allowed:
            return await _send_error(scope, send, 403, "requests from another web origin are refused (QA_CORS_"
                                                       "ORIGINS names the origins allowed to call /api and /v1)")
        return await self.app(scope, receive, send)


class WrongKeyBrake:
    """ASGI middleware that slows down guessing the API key: after FREE_WRONG_KEYS wrong keys (a 401 from /api or
    /v1, a refused page login) from one address, that address gets 429 with Retry-After, for a wait that doubles
    with each further wrong key up to MAX_WAIT_SECONDS. While it waits no key it sends is looked at, so the wait
    bounds the guesses, not only the answers. A right key clears the address's count."""

    FREE_WRONG_KEYS = 5
    MAX_WAIT_SECONDS = 8.0
    FORGET_AFTER_SECONDS = 600.0  # an address quiet this long starts again from nothing
    MAX_ADDRESSES = 10_000  # the oldest are forgotten first: a flood of addresses cannot fill the memory

    def __init__(self, app, settings: Settings, clock: Callable[[], float] = time.monotonic):
        self.app = app
        self.settings = settings
        self.clock = clock
        self.wrong: dict[str, tuple[int, float]] = {}  # address → (wrong keys in a row, may try again at)

    @staticmethod
    def _refusal(method: str, path: str) -> int | None:
        """The status a wrong key gets on this route, or None where no key is checked."""
        if path.startswith(("/api/", "/v1/")):
            return 401
        if method == "POST" and path.rstrip("/") == "/login":  # the page's login: the key as its password
            return 400
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.settings.api_key:
            return await self.app(scope, receive, send)
        refused = self._refusal(scope["method"], scope["path"])
        if refused is None:
            return await self.app(scope, receive, send)
        address = (scope.get("client") or ("?", 0))[0]
        now = self.clock()
        count, until = self.wrong.get(address, (0, 0.0))
        if count and now - until > self.FORGET_AFTER_SECONDS:
            count, until = 0, 0.0
            self.wrong.pop(address, None)
        if now < until:
            wait = math.ceil(until - now)
            return await _send_error(scope, send, 429, f"too many wrong API keys from this address; try again in "
                                                       f"{wait} s", headers={"Retry-After": str(wait)})
        status = 0

        async def watched_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watched_send)
        if status == refused:
            count += 1
            wait = (min(2.0 ** (count - self.FREE_WRONG_KEYS), self.MAX_WAIT_SECONDS)
                    if count >= self.FREE_WRONG_KEYS else 0.0)
            self.wrong.pop(address, None)  # re-inserted last: the dict is oldest first
            self.wrong[address] = (count, self.clock() + wait)
            while len(self.wrong) > self.MAX_ADDRESSES:
                self.wrong.pop(next(iter(self.wrong)))
            if wait:
                log.warning("%d wrong API keys in a row from %s: it waits %g s", count, address, wait)
        elif count and status < 400:
            self.wrong.pop(address, None)


# ---------------------------------------------------------------- the application


def create_api(engine, settings: Settings | None = None) -> FastAPI:
    """The FastAPI app with every /api and /v1 route over one engine (the page is mounted on it by app.py)."""
    settings = settings or engine.settings
    started = int(time.time())
    app = FastAPI(
        title="interview-qa API",
        version="1",
        description=(
            "Questions answered from the documents, with the paragraphs they cite. `/api/*` speaks JSON; "
            "`/v1/*` is OpenAI-compatible (any OpenAI client can use the service as the model "
            f"`{MODEL_ID}`). When the server has an API key, send `Authorization: Bearer <key>`."
        ),
    )

    def upload_limit() -> int:
        return settings.max_upload_files * settings.max_upload_bytes + 1_000_000

    def limit_for(method: str, path: str) -> int | None:
        if not path.startswith(("/api/", "/v1/")) or method in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return None
        return upload_limit() if path.rstrip("/") == "/api/documents" else MAX_JSON_BODY_BYTES

    if settings.allowed_origins:  # innermost: answers the preflight of an origin SameOrigin let through
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.allowed_origins), allow_methods=["*"],
                           allow_headers=["*"], expose_headers=["Retry-After"])
    app.add_middleware(BodyLimit, limit_for=limit_for)
    app.add_middleware(WrongKeyBrake, settings=settings)
    app.add_middleware(SameOrigin, settings=settings)  # added last, so it runs first: also guards the page

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError):
        return JSONResponse(_error_body(request.url.path, error.status, error.message, error.extra),
                            status_code=error.status, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError):
        status, message = _validation_message(error)
        log.info("%s %s refused (%d): %s", request.method, request.url.path, status, message[:300])
        return JSONResponse(_error_body(request.url.path, status, message), status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        message = error.detail if isinstance(error.detail, str) else "request refused"
        return JSONResponse(_error_body(request.url.path, error.status_code, message),
                            status_code=error.status_code, headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception):
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse(_error_body(request.url.path, 500, "internal error; the server log has the details"),
                            status_code=500)

    def require_key(request: Request) -> None:
        if not settings.api_key:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), settings.api_key.encode()):
            raise ApiError(401, "missing or wrong API key: send the header Authorization: Bearer <QA_API_KEY>",
                           headers={"WWW-Authenticate": "Bearer"})

    def engine_call(function: Callable[[], Any]) -> Any:
        """Run an engine call; its refusals of bad input become 422 and its known faults 503."""
        try:
            return function()
        except UploadError as error:  # names only what the caller sent, no server path
            files = [{"name": p.name, "error": str(p)} for p in error.problems]
            raise ApiError(error.status, str(error), **({"files": files} if files else {})) from None
        except ValueError as error:
            raise ApiError(422, public_message(error, settings)) from None
        except BuildBusy as error:
            raise ApiError(503, str(error), headers={"Retry-After": "30"}) from None
        except EmbeddingServerError as error:
            log.error("%s", error)
            raise ApiError(503, f"the embedding server is not available: {public_message(str(error), settings)}") \
                from None
        except (IndexUnavailable, FileNotFoundError, PermissionError) as error:
            log.error("%s", error)  # with the server path, which the client does not get
            public = getattr(error, "public", None) or str(error)
            raise ApiError(503, f"the index is not available: {public_message(public, settings)}") from None

    def checked(question: str, history: list[dict], filters: dict | None, k: int) -> dict:
        """Arguments for the engine (which refuses an empty question, k and filters out of bounds with a
        ValueError, a 422); ApiError 413 for a question over the limit, which the page and CLI would cut: a
        program gets told rather than an answer to part of what it sent."""
        length = len(question.strip())
        if length > settings.max_question_chars:
            raise ApiError(413, f"question: {length:,} characters; the limit is "
                                f"{settings.max_question_chars:,} (QA_MAX_QUESTION_CHARS)")
        return {"question": question, "history": history, "filters": filters, "k": k}

    # ------------------------------------------------------------ /api
    api = APIRouter(prefix="/api", dependencies=[Depends(require_key)], tags=["JSON API"])
    errors = {code: {"model": ErrorOut} for code in (401, 413, 422, 503)}

    @api.post("/ask", response_model=AnswerOut, responses=errors)
    def ask(request: AskRequest) -> dict:
        """Answer a question from the documents, citing the paragraphs it rests on. When the documents do not
        hold the answer, `answered` is false and `passages` still holds the closest paragraphs."""
        arguments = checked(request.question, [m.model_dump() for m in request.history], request.filters, request.k)
        return answer_json(engine_call(lambda: engine.ask(**arguments)))

    @api.get("/documents", response_model=DocumentsOut, responses=errors)
    def documents() -> dict:
        """The indexed documents: each file of the data folder, its articles (ids for filters) and paragraph
        counts."""
        return {"documents": engine_call(lambda: list_documents(engine))}

    @api.post("/documents", response_model=ChangeOut, status_code=201,
              responses={**errors, 409: {"model": ErrorOut}, 415: {"model": ErrorOut}})
    async def upload(
        files: Annotated[list[UploadFile],
                         File(description="documents (.txt .md .html .docx .pdf .xlsx .xlsm .csv .tsv …)")],
        replace: Annotated[bool, Query(description="overwrite files of the same name")] = False,
    ) -> dict:
        """Add documents to the data folder and index them; all or nothing: if any file is refused or cannot be
        read, nothing is written and the index stays as it was. Searchable when this returns."""
        if len(files) > settings.max_upload_files:
            raise ApiError(413, f"{len(files)} files; the limit is {settings.max_upload_files} a request "
                                f"(QA_MAX_UPLOAD_FILES)")
        received = []
        for upload_file in files:
            data = await upload_file.read(settings.max_upload_bytes + 1)
            received.append((upload_file.filename or "", data))
        report = await run_in_threadpool(engine_call, lambda: add_documents(engine, received, replace=replace))
        return change_json(report)

    @api.delete("/documents/{source:path}", response_model=ChangeOut, responses={**errors, 404: {"model": ErrorOut},
                                                                                  409: {"model": ErrorOut}})
    def remove(source: str) -> dict:
        """Remove a document (its `source` as listed by GET /api/documents) and update the index."""
        return change_json(engine_call(lambda: delete_document(engine, source)))

    @api.get("/status", responses=errors)
    def status() -> dict:
        """The answerer, the size of the corpus and the index, and the limits on requests."""
        state = engine_call(engine.status)
        return {
            **state,
            "api_key_required": bool(settings.api_key),
            "limits": {
                "max_question_chars": settings.max_question_chars, "max_history_turns": settings.max_history_turns,
                "max_history_chars": settings.max_history_chars, "max_k": settings.max_k,
                "max_filter_values": settings.max_filter_values, "max_upload_bytes": settings.max_upload_bytes,
                "max_upload_files": settings.max_upload_files,
            },
        }

    # ------------------------------------------------------------ /v1, OpenAI-compatible
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_key)], tags=["OpenAI-compatible"])

    def model_card() -> dict:
        return {"id": MODEL_ID, "object": "model", "created": started, "owned_by": "interview-qa"}

    @v1.get("/models")
    def models() -> dict:
        """The one model this service is."""
        return {"object": "list", "data": [model_card()]}

    def unknown_model(model: str) -> ApiError:
        # OpenAI's answer to a model it does not serve, so that a client reports it as NotFoundError.
        return ApiError(404, f"the model {model!r} does not exist; this service is {MODEL_ID!r} (GET /v1/models)",
                        code="model_not_found", param="model")

    @v1.get("/models/{model}")
    def model(model: str) -> dict:
        if model != MODEL_ID:
            raise unknown_model(model)
        return model_card()

    @v1.post("/chat/completions", responses=errors)
    def chat_completions(request: ChatRequest):
        """The last user message is the question, earlier messages the history. The content carries `[n]`
        markers and ends with the sources as a Markdown list; the top-level `citations` field holds them as
        /api/ask does. Streams server-sent events when `stream` is true. Usage counts characters, not tokens."""
        if request.model != MODEL_ID:
            raise unknown_model(request.model)
        conversation = [m for m in request.messages if m.role in ("user", "assistant")]
        if not conversation or conversation[-1].role != "user":
            raise ApiError(422, "messages: the last user or assistant message must be the user's question")
        earlier = [{"role": m.role, "content": _strip_extras(_message_text(m)) if m.role == "assistant"
                    else _message_text(m)} for m in conversation[:-1]]
        earlier = [m for m in earlier if m["content"].strip()]
        # Chat clients send the whole conversation every time: the engine keeps the latest part, with a notice.
        arguments = checked(_message_text(conversation[-1]), earlier, request.filters, request.k)
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        prompt_chars = len(arguments["question"]) + sum(len(m["content"]) for m in arguments["history"])

        if not request.stream:
            answer = engine_call(lambda: engine.ask(**arguments))
            body = answer_json(answer)
            content = _markdown_answer(answer.text) + chat_extras(answer, body["citations"])
            return {
                "id": completion_id, "object": "chat.completion", "created": created, "model": MODEL_ID,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                             "finish_reason": "stop", "logprobs": None}],
                "usage": {"prompt_tokens": prompt_chars, "completion_tokens": len(content),
                          "total_tokens": prompt_chars + len(content)},
                "citations": body["citations"], "answered": answer.answered, "notice": answer.notice,
            }

        partials = engine.ask_stream(**arguments)
        # The first step checks the question and loads the index: its refusals still get a status code.
        first = engine_call(lambda: next(partials))
        include_usage = bool(request.stream_options and request.stream_options.include_usage)

        def chunk(delta: dict, finish_reason: str | None = None, **extra: Any) -> str:
            body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
                    **extra}
            return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

        def events() -> Iterator[str]:
            sent = ""
            answer = first
            yield chunk({"role": "assistant", "content": ""})
            try:
                for answer in chain([first], partials):
                    shown = _markdown_answer(answer.text)
                    if shown.startswith(sent) and len(shown) > len(sent):
                        yield chunk({"content": shown[len(sent):]})
                        sent = shown
            except Exception as error:  # the status line is sent: the error goes into the stream
                if isinstance(error, (ValueError, IndexUnavailable, EmbeddingServerError)):
                    log.error("streaming an answer failed: %s", error)
                else:
                    log.exception("streaming an answer failed")
                failure = _error_body("/v1/", 503, f"answering failed: {public_message(error, settings)}")
                yield f"data: {json.dumps(failure, ensure_ascii=False)}\n\n"
                yield "data: [DONE]\n\n"
                return
            citations = answer_json(answer)["citations"]
            # Deltas cannot take back what was sent: a final answer that is not the shown text grown (the
            # refusal in place of a reply that used no passage) follows it, set apart, unless already said.
            shown = _markdown_answer(answer.text)
            grown = shown.startswith(sent)
            rest = shown[len(sent):] if grown else "" if shown.strip() in sent else f"\n\n{shown}"
            tail = rest + chat_extras(answer, citations)
            if tail:
                yield chunk({"content": tail})
            yield chunk({}, "stop", citations=citations, answered=answer.answered, notice=answer.notice)
            if include_usage:
                completion = len(sent) + len(tail)
                usage = {"prompt_tokens": prompt_chars, "completion_tokens": completion,
                         "total_tokens": prompt_chars + completion}
                body = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                        "model": MODEL_ID, "choices": [], "usage": usage}
                yield f"data: {json.dumps(body)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    app.include_router(api)
    app.include_router(v1)

    # The page is mounted at "/" after these routes, and a mount takes every path no route takes whole: an
    # unknown /api path, or a known one asked with the wrong method, would get the page's {"detail": ...}.
    # These take every path left under /api and /v1 and answer as the API does.
    def no_such_route(request: Request) -> None:
        path = request.url.path
        allowed = sorted({method for route in (*api.routes, *v1.routes)
                          if isinstance(route, APIRoute) and route.path_regex.match(path)
                          for method in route.methods or ()})
        shown = path[:200]
        if allowed:
            raise ApiError(405, f"{request.method} is not allowed on {shown}; use {', '.join(allowed)}",
                           headers={"Allow": ", ".join(allowed)})
        raise ApiError(404, f"there is no {shown}; the API's routes are listed at /docs")

    for prefix in ("/api", "/v1"):
        for path in (prefix, f"{prefix}/{{rest:path}}"):
            app.add_api_route(path, no_such_route, methods=_EVERY_METHOD, include_in_schema=False)
    return app


_EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def change_json(report: ChangeReport) -> dict:
    build = report.build
    return {"added": report.added, "replaced": report.replaced, "removed": report.removed,
            "index": build.summary() if build else "", "warnings": list(build.warnings) if build else []}


def list_documents(engine) -> list[dict]:
    """Each indexed file with its articles and paragraph counts, in the order of the index."""
    retriever, _ = engine._ready()  # the loaded index: what questions are answered from right now
    index = retriever.index
    per_article: dict[str, int] = {}
    for paragraph in index.paragraphs.values():
        per_article[paragraph.article_id] = per_article.get(paragraph.article_id, 0) + 1
    data_dir = Path(engine.settings.data_dir)
    documents: dict[str, dict] = {}
    for article in index.articles.values():
        document = documents.get(article.source)
        if document is None:
            path = data_dir / article.source
            size = path.stat().st_size if path.is_file() else 0
            document = documents[article.source] = {"source": article.source, "bytes": size, "paragraphs": 0,
                                                    "articles": []}
        count = per_article.get(article.id, 0)
        document["articles"].append({"id": article.id, "title": article.title, "paragraphs": count})
        document["paragraphs"] += count
    return list(documents.values())
