"""The LM statement writer against a stub OpenAI-compatible server on 127.0.0.1 (never another
host): the request it sends, the answer it reads, and the errors it turns into LMError."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from synth.lm import ChatCompletionsWriter, LMConfig, LMError
from synth.mutate import make_patch
from synth.records import TestStatus
from synth.statement import StatementInput, Style, write_statement
from tests.factories import make_result


class _Stub(BaseHTTPRequestHandler):
    """Answers POST /v1/chat/completions with what the test put in `server.reply`."""

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        server = self.server
        length = int(self.headers.get("Content-Length", 0))
        server.requests.append(  # type: ignore[attr-defined]
            (self.path, dict(self.headers), json.loads(self.rfile.read(length)))
        )
        status, body = server.reply  # type: ignore[attr-defined]
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def stub() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), _Stub)
    server.requests = []  # type: ignore[attr-defined]
    server.reply = (200, _answer("Totals are wrong."))  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _answer(text: str) -> dict:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}


def _config(server: HTTPServer, **kwargs: object) -> LMConfig:
    host, port = server.server_address[:2]
    return LMConfig(url=f"http://{host}:{port}/v1", model="stub-model", timeout_s=5, **kwargs)  # type: ignore[arg-type]


def test_writer_posts_a_chat_completion_and_reads_the_message(stub: HTTPServer) -> None:
    writer = ChatCompletionsWriter(_config(stub, api_key="k-123"))
    assert writer.write("Describe the bug.") == "Totals are wrong."
    path, headers, body = stub.requests[0]  # type: ignore[attr-defined]
    assert path == "/v1/chat/completions"
    assert headers["Authorization"] == "Bearer k-123"
    assert body["model"] == "stub-model"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][1]["content"] == "Describe the bug."


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ((500, {"error": "boom"}), "HTTP 500"),
        ((200, b"not json"), "not JSON"),
        ((200, {"choices": []}), "no choices"),
        ((200, _answer("   ")), "empty"),
    ],
)
def test_bad_answers_are_lm_errors(stub: HTTPServer, reply: tuple, error: str) -> None:
    stub.reply = reply  # type: ignore[attr-defined]
    with pytest.raises(LMError, match=error):
        ChatCompletionsWriter(_config(stub)).write("x")


def test_an_unreachable_endpoint_is_an_lm_error() -> None:
    server = HTTPServer(("127.0.0.1", 0), _Stub)
    port = server.server_address[1]
    server.server_close()  # nothing listens there any more
    config = LMConfig(url=f"http://127.0.0.1:{port}/v1", model="m", timeout_s=2)
    with pytest.raises(LMError, match="unreachable"):
        ChatCompletionsWriter(config).write("x")


def test_config_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="http"):
        LMConfig(url="127.0.0.1:8000", model="m")
    with pytest.raises(ValueError, match="--lm-model"):
        LMConfig(url="http://127.0.0.1:8000/v1", model="")
    assert LMConfig(url="http://127.0.0.1:1/v1/", model="m").endpoint.endswith(
        "/v1/chat/completions"
    )


PATCH = make_patch(
    "pkg/p.py", "def f(a, b):\n    return a * b\n", "def f(a, b):\n    return a // b\n"
)
FAILING = [
    make_result(
        "tests/test_p.py::test_f", TestStatus.FAILED, message="AssertionError: assert 0 == 6"
    )
]


def test_statement_from_the_stub_lm_end_to_end(stub: HTTPServer) -> None:
    item = StatementInput("p", FAILING, PATCH)
    written = write_statement(item, style=Style.STORY, writer=ChatCompletionsWriter(_config(stub)))
    assert (written.writer, written.text) == ("lm", "Totals are wrong.\n")
    prompt = stub.requests[0][2]["messages"][1]["content"]  # type: ignore[attr-defined]
    assert "tests/test_p.py::test_f" in prompt and "a // b" not in prompt


def test_a_leaking_lm_answer_falls_back_to_the_template(stub: HTTPServer) -> None:
    stub.reply = (200, _answer("The line `return a // b` is wrong."))  # type: ignore[attr-defined]
    item = StatementInput("p", FAILING, PATCH)
    written = write_statement(item, style=Style.CI, writer=ChatCompletionsWriter(_config(stub)))
    assert written.writer == "template" and "a // b" not in written.text
