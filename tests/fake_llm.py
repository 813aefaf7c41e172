"""A fake OpenAI-compatible chat completions server on loopback, for driving real litellm.

Tests script its answers one by one (``reply``, ``fail``, ``hang``, ``refuse``...) and read
back the requests it received, so they can check what the model was shown. Long runs (the
chaos benchmark) give it a ``responder`` that answers any request from its content, and
``chaos(fail_ratio)`` to fail a random share of the unscripted answers.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Scripted:
    """One scripted answer: an HTTP status, a body, headers, and a delay before answering."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class FakeLLM:
    """The server and its script; ``default`` answers when the script is empty."""

    def __init__(self) -> None:
        self.script: deque[Scripted] = deque()
        self.requests: list[dict[str, Any]] = []
        self.default: Scripted | None = None
        # Answers an unscripted request from its body: the content of the model's message.
        self.responder: Callable[[dict[str, Any]], Any] | None = None
        self.failures = 0  # unscripted answers that chaos() turned into a 500
        self._fail_ratio = 0.0
        self._rng = random.Random()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- scripting -----------------------------------------------------------------------

    def reply(self, content: Any, *, prompt_tokens: int = 50, completion_tokens: int = 10) -> None:
        """Answer with a message whose content is ``content`` (JSON-encoded unless a str)."""
        text = content if isinstance(content, str) else json.dumps(content)
        self.script.append(Scripted(body=_completion(text, prompt_tokens, completion_tokens)))

    def fail(self, status: int, *, retry_after: int | None = None) -> None:
        """Answer with an HTTP error."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        body = {"error": {"message": f"fake error {status}", "type": "server_error"}}
        self.script.append(Scripted(status=status, body=body, headers=headers))

    def hang(self, seconds: float) -> None:
        """Answer only after ``seconds``, so the client times out first."""
        self.script.append(Scripted(body=_completion("{}", 1, 1), delay_s=seconds))

    def refuse(self, reason: str = "I can't help with that.") -> None:
        """Answer with a refusal instead of content."""
        body = _completion(None, 20, 5)
        body["choices"][0]["message"]["refusal"] = reason
        self.script.append(Scripted(body=body))

    def chaos(self, fail_ratio: float, seed: int | None = None) -> None:
        """Answer this share of unscripted requests with a 500 (seeded); ``chaos(0)`` stops."""
        with self._lock:
            self._fail_ratio, self._rng = fail_ratio, random.Random(seed)

    def user_messages(self) -> list[str]:
        """The user-role contents of every request received, in order."""
        return [m["content"] for r in self.requests for m in r["messages"] if m["role"] == "user"]

    # --- serving -------------------------------------------------------------------------

    def _next(self, request: dict[str, Any]) -> Scripted:
        with self._lock:
            if self.script:
                return self.script.popleft()
            if self._fail_ratio and self._rng.random() < self._fail_ratio:
                self.failures += 1
                return Scripted(status=500, body={"error": {"message": "fake chaos"}})
        if self.responder is not None:
            content = self.responder(request)
            text = content if isinstance(content, str) else json.dumps(content)
            return Scripted(body=_completion(text, 50, 10))
        if self.default is None:
            return Scripted(status=500, body={"error": {"message": "script is empty"}})
        return self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                request = json.loads(self.rfile.read(length) or b"{}")
                with fake._lock:
                    fake.requests.append(request)
                answer = fake._next(request)
                if answer.delay_s:
                    time.sleep(answer.delay_s)
                payload = json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def _completion(content: str | None, prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "fake-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
