"""A real local HTTP server speaking the OpenAI chat-completions API, for the tests of the LLM scorer and of the
tools that call it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    """A chat-completions endpoint replaying scripted replies (status, body, delay_s), or answering each request
    with ``responder(request body)`` (the assistant's message content: a dict or text)."""

    def __init__(self, responder: Callable[[dict], dict | str] | None = None) -> None:
        self.replies: list[tuple[int, str, float]] = []
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                fake.requests.append({"path": self.path, "body": json.loads(self.rfile.read(length) or b"{}")})
                if responder is not None:  # a model answering from the request rather than a script
                    fake.completion(responder(fake.requests[-1]["body"]))
                status, body, delay = fake.replies.pop(0) if fake.replies else (500, "{}", 0.0)
                time.sleep(delay)
                data = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    if status == 429:
                        self.send_header("Retry-After", "0")
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def completion(self, answer: dict | str, status: int = 200, delay: float = 0.0) -> None:
        content = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
        body = {
            "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "test-model",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500},
        }
        self.replies.append((status, json.dumps(body), delay))

    def error(self, status: int, delay: float = 0.0) -> None:
        self.replies.append((status, json.dumps({"error": {"message": "boom", "type": "server_error"}}), delay))
