"""A small OpenAI-compatible server on 127.0.0.1 for tests: /v1/chat/completions and /v1/embeddings over real HTTP.

    with FakeOpenAI() as server:
        server.reply = "答案 [1]"          # or server.replies.append(...), server.delay_s = 5, server.status = 500
        settings = load_settings(..., llm_base_url=server.base_url, llm_model="fake")

The real `openai` / `langchain-openai` clients talk to it, so timeouts, HTTP errors and parsing run as in production.
Every request body is kept in `server.requests`.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeOpenAI:
    def __init__(self) -> None:
        self.reply: str | Callable[[list[dict[str, Any]]], str] = "NO_ANSWER"
        self.replies: list[str] = []  # consumed first, one per call
        self.delay_s = 0.0
        self.status = 200
        self.requests: list[dict[str, Any]] = []
        self.embedding_dim = 16
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAI:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                owner.requests.append({"path": self.path, "body": body})
                if owner.delay_s:
                    owner._stop.wait(owner.delay_s)
                if owner.status != 200:
                    self._send(owner.status, {"error": {"message": "fake failure", "type": "server_error"}})
                    return
                if self.path.endswith("/chat/completions"):
                    self._send(200, owner._chat(body))
                elif self.path.endswith("/embeddings"):
                    self._send(200, owner._embeddings(body))
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _chat(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body.get("messages") or []
        if self.replies:
            text = self.replies.pop(0)
        elif callable(self.reply):
            text = self.reply(messages)
        else:
            text = self.reply
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    def _embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        data = []
        for i, text in enumerate(inputs or []):
            text = str(text)
            vector = [0.0] * self.embedding_dim
            for gram in (text[j : j + 2] for j in range(max(1, len(text) - 1))):
                slot = int(hashlib.md5(gram.encode()).hexdigest(), 16) % self.embedding_dim
                vector[slot] += 1.0
            data.append({"object": "embedding", "index": i, "embedding": vector})
        return {"object": "list", "data": data, "model": body.get("model", "fake"),
                "usage": {"prompt_tokens": 1, "total_tokens": 1}}
