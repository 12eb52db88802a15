"""An OpenAI-compatible server on 127.0.0.1 for tests: real HTTP, so the real openai client, its
retries and our parsing all run.

    with FakeOpenAI(reply=lambda req: "text") as server:
        client = openai.OpenAI(base_url=server.url, api_key="sk-test", max_retries=1)
        server.faults.extend([429, 500, "timeout", "malformed"])   # consumed one per request

``reply(request_json) -> str`` gives the assistant message content (default: echo of the last user
message). A fault is an HTTP status (int; 429 carries ``retry-after-ms: 10``), ``"timeout"`` (the
server sleeps ``timeout_s`` before answering), or ``"malformed"`` (the content is broken JSON text).
Every request body is kept in ``server.requests`` with its headers in ``server.headers``.

A dead or misconfigured endpoint:

    server.fail_with = 500          # every chat completion answers 500 until set back to None
    FakeOpenAI(models={"fake-model"})   # any other model: 404 "The model `x` does not exist ..."

An endpoint that takes only so many requests at once (off unless ``max_inflight`` is given):

    FakeOpenAI(latency_s=0.2, max_inflight=6, retry_after_s=1)
    # a request arriving while 6 are being answered gets 429 with ``retry-after: 1``; ``server.refused``
    # counts those, ``server.answered`` the 200s, ``server.peak_inflight`` the most answered at once;
    # ``server.arrived[i]`` is when ``server.requests[i]`` came (time.monotonic), ``server.refusals`` the
    # indexes of the refused ones

Error bodies are OpenAI's shape, ``{"error": {"message", "type", "code"}}``; a 401 echoes the bearer
token in its message, as some endpoints do, so tests can check that the key is masked.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


class _Server(ThreadingHTTPServer):
    request_queue_size = 64  # clients sending 8+ requests at once must not wait on a full accept queue


class FakeOpenAI:
    def __init__(self, reply: Callable[[dict], str] | None = None, *, latency_s: float = 0.0,
                 timeout_s: float = 3.0, models: set[str] | None = None, max_inflight: int | None = None,
                 retry_after_s: float = 1.0):
        self.reply = reply or (lambda req: req["messages"][-1]["content"])
        self.latency_s = latency_s
        self.timeout_s = timeout_s
        self.models = models            # None: any model name is served
        self.fail_with: int | None = None  # an HTTP status answered to every chat completion while set
        self.faults: list = []
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.max_inflight, self.retry_after_s = max_inflight, retry_after_s
        self.inflight = self.peak_inflight = self.refused = self.answered = 0
        self.arrived: list[float] = []
        self.refusals: list[int] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeOpenAI":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_fault(self):
        with self._lock:
            return self.faults.pop(0) if self.faults else None

    def _admit(self, index: int) -> bool:
        """Take request ``index`` in unless ``max_inflight`` are being answered (then it is refused and counted)."""
        with self._lock:
            if self.max_inflight is not None and self.inflight >= self.max_inflight:
                self.refused += 1
                self.refusals.append(index)
                return False
            self.inflight += 1
            self.peak_inflight = max(self.peak_inflight, self.inflight)
            return True

    def _done(self) -> None:
        """A request taken in is answered (counted off before its answer is sent, as a real server does)."""
        with self._lock:
            self.inflight -= 1
            self.answered += 1

    def _handler(self):
        """The request handler class bound to this server. Long because it is one class: the routes of
        the OpenAI API the studio uses, each a few lines, read best side by side."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, status: int, body: dict, headers: dict | None = None):
                data = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, model: str):
                """OpenAI's error body for ``status``; a 401 echoes the bearer token as some endpoints do."""
                token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
                message, kind, code = {
                    401: (f"Incorrect API key provided: {token}.", "invalid_request_error", "invalid_api_key"),
                    403: ("You are not allowed to use this model.", "invalid_request_error", "permission_denied"),
                    404: (f"The model `{model}` does not exist or you do not have access to it.",
                          "invalid_request_error", "model_not_found"),
                }.get(status, (f"injected {status}", "fault", None))
                self._send(status, {"error": {"message": message, "type": kind, "code": code}},
                           {"retry-after-ms": "10"} if status == 429 else None)

            def _busy(self):
                """The 429 of an endpoint taking only ``max_inflight`` requests at once."""
                self._send(429, {"error": {"message": f"more than {fake.max_inflight} requests at once",
                                           "type": "requests", "code": "rate_limit_exceeded"}},
                           {"retry-after": f"{fake.retry_after_s:g}"})

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake._lock:
                    index = len(fake.requests)
                    fake.requests.append(body)
                    fake.headers.append(dict(self.headers))
                    fake.arrived.append(time.monotonic())
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": "not found"}})
                model = body.get("model", "")
                if fake.fail_with is not None:
                    return self._error(fake.fail_with, model)
                if fake.models is not None and model not in fake.models:
                    return self._error(404, model)
                fault = fake._next_fault()
                if isinstance(fault, int):
                    return self._error(fault, model)
                if not fake._admit(index):
                    return self._busy()
                try:
                    if fault == "timeout":
                        time.sleep(fake.timeout_s)
                    if fake.latency_s:
                        time.sleep(fake.latency_s)
                    content = '{"questions": [ {"q": "unterminated' if fault == "malformed" else fake.reply(body)
                finally:
                    fake._done()
                prompt_tokens = sum(len(m.get("content") or "") for m in body.get("messages", []))
                usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(content),
                         "total_tokens": prompt_tokens + len(content)}
                if body.get("stream"):
                    return self._stream(body, content, usage)
                self._send(200, {
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", "fake-model"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": usage})

            def _stream(self, body, content, usage):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for piece in [content[i:i + 8] for i in range(0, len(content), 8)] or [""]:
                    chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                             "created": int(time.time()), "model": body.get("model", "fake-model"),
                             "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                end = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                       "model": body.get("model", "fake-model"),
                       "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage}
                self.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())

        return Handler
