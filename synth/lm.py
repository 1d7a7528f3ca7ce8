"""An optional language-model writer of problem statements, for any OpenAI-compatible endpoint.

Off by default: the factory only builds one when the user names an endpoint (``--lm-url``,
``--lm-model``). It speaks the chat-completions protocol with the standard library's HTTP client,
so a local server (vLLM, llama.cpp, an Ollama shim) works as well as a hosted one. Whatever it
returns still goes through ``synth.statement.leaks``; a failure or a leak falls back to the
templates, so a flaky endpoint never costs a task its statement.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

SYSTEM_PROMPT = (
    "You write bug reports for open-source Python projects. You only know the symptoms you are "
    "given. You never reveal or guess the location of the bug, never quote the project's code, "
    "and never suggest a fix."
)


class LMError(RuntimeError):
    """The endpoint could not be reached, refused the request, or answered something unusable."""


@dataclass(frozen=True)
class LMConfig:
    """Where the writer talks to; picklable, so Ray workers can build their own writer."""

    url: str  # the API base, e.g. http://127.0.0.1:8000/v1 (".../chat/completions" is added)
    model: str
    timeout_s: float = 60.0
    temperature: float = 0.7
    max_tokens: int = 700
    api_key: str | None = None

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"--lm-url {self.url!r}: give an http:// or https:// API base URL")
        if not self.model:
            raise ValueError("--lm-model is required with --lm-url")

    @property
    def endpoint(self) -> str:
        base = self.url.rstrip("/")
        return base if base.endswith("/chat/completions") else f"{base}/chat/completions"


class ChatCompletionsWriter:
    """A ``synth.statement.StatementWriter`` backed by ``POST {url}/chat/completions``."""

    def __init__(self, config: LMConfig) -> None:
        self.config = config

    def write(self, prompt: str) -> str:
        body = {
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": prompt},
            ],
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
        }
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        request = urllib.request.Request(
            self.config.endpoint, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with _opener(self.config.endpoint).open(
                request, timeout=self.config.timeout_s
            ) as response:
                payload = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise LMError(f"{self.config.endpoint} answered HTTP {exc.code}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise LMError(f"{self.config.endpoint} is unreachable: {exc}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise LMError(f"{self.config.endpoint} answered something that is not JSON") from exc
        return _content(payload)


def _opener(url: str) -> urllib.request.OpenerDirector:
    # A server on this machine is never reached through a proxy, whatever the environment says.
    host = urllib.parse.urlsplit(url).hostname or ""
    if host in {"127.0.0.1", "localhost", "::1"}:
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def _content(payload: object) -> str:
    try:
        content = payload["choices"][0]["message"]["content"]  # type: ignore[index]
    except (KeyError, IndexError, TypeError) as exc:
        raise LMError("the answer has no choices[0].message.content") from exc
    if not isinstance(content, str) or not content.strip():
        raise LMError("the answer's message is empty")
    return content
