"""get_client against the loopback server: the real openai client, retries on 429/500."""
import pytest

from studio.core.errors import InputError
from studio.core.llm import get_client
from testkit.fake_openai import FakeOpenAI


def test_client_retries_429_and_500_then_answers(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    with FakeOpenAI(reply=lambda req: "好的") as server:
        server.faults.extend([429, 500])
        client = get_client(server.url, max_retries=2)
        r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "你好"}])
        assert r.choices[0].message.content == "好的"
        assert len(server.requests) == 3
        assert {k.lower(): v for k, v in server.headers[-1].items()}["authorization"] == "Bearer sk-test-123"


def test_remote_endpoint_without_key_is_refused(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(InputError, match="no API key"):
        get_client("https://api.example.com/v1")
