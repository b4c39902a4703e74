"""OpenAIPolicy against a small OpenAI-compatible server on 127.0.0.1 backed by the micro model.

The server answers ``POST /v1/completions`` and ``/v1/chat/completions`` with the HF policy's greedy
generation, fails the first ``fail_first`` requests with HTTP 500 (to exercise retries), serves at
most ``max_requests`` requests and stops by itself after ``lifetime_s`` seconds.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cotdiag.agents.hf import HFPolicy
from cotdiag.agents.openai_policy import EndpointError, OpenAIPolicy
from cotdiag.agents.registry import make_policy

PROMPT = "Task: put a mug on the desk.\n\nCurrent observation:\nYou see a mug 1."


class _Server:
    def __init__(self, policy: HFPolicy, *, fail_first: int = 0, max_requests: int = 50, lifetime_s: float = 120):
        self.policy, self.fail_left, self.left = policy, fail_first, max_requests
        self.lock = threading.Lock()
        self.seen: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_POST(self):  # noqa: N802 - http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.left -= 1
                    fail = outer.fail_left > 0
                    outer.fail_left -= int(fail)
                    outer.seen.append(body)
                if fail or outer.left < 0:
                    self.send_response(500)
                    self.end_headers()
                    return
                if self.path.endswith("/chat/completions"):
                    msgs = body["messages"]
                    prompt = msgs[-2]["content"] if msgs[-1]["role"] == "assistant" else msgs[-1]["content"]
                    prefill = msgs[-1]["content"] if msgs[-1]["role"] == "assistant" else ""
                    text = prompt + "\n" + prefill
                else:
                    text = body["prompt"]
                with outer.lock:
                    out = outer.policy.generate([text])[0]
                stop = body.get("stop") or []
                finish = "length"
                for s in stop:
                    if s in out:
                        out, finish = out[: out.index(s)], "stop"
                usage = {"prompt_tokens": len(outer.policy.tokenizer(text)["input_ids"]),
                         "completion_tokens": len(outer.policy.tokenizer(out)["input_ids"])}
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                if self.path.endswith("/chat/completions"):
                    choice = {"index": 0, "message": {"role": "assistant", "content": out}, "finish_reason": finish}
                    obj = "chat.completion"
                else:
                    choice = {"index": 0, "text": out, "finish_reason": finish, "logprobs": None}
                    obj = "text_completion"
                data = json.dumps({"id": "x", "object": obj, "created": int(time.time()), "model": body["model"],
                                   "choices": [choice], "usage": usage}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.timer = threading.Timer(lifetime_s, self.httpd.shutdown)

    def __enter__(self):
        self.thread.start()
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def hf(micro_model):
    return HFPolicy(micro_model, max_new_tokens=10)


def test_completions_match_hf_policy_and_record_usage(hf):
    infos = [{"prefill": "<action>"}, {"prefill": ""}, {"prefill": "<action>"}]
    prompts = [PROMPT, "Task: x", PROMPT + " More."]
    with _Server(hf, fail_first=1) as srv:
        pol = make_policy(f"openai:micro@{srv.url}", seed=0, concurrency=2)
        assert isinstance(pol, OpenAIPolicy)
        got = pol.act_batch(prompts, infos)
    want = [hf.act(p, i) for p, i in zip(prompts, infos, strict=True)]
    assert got == want
    assert pol.usage["requests"] == 3 and pol.usage["retries"] == 1
    assert pol.usage["prompt_tokens"] > 0 and pol.usage["failures"] == 0


def test_chat_api_sends_prefill_as_assistant_message(hf):
    with _Server(hf) as srv:
        pol = OpenAIPolicy("micro", srv.url, api="chat")
        out = pol.act(PROMPT, {"prefill": "<action>"})
        body = srv.seen[-1]
    assert body["messages"][-1] == {"role": "assistant", "content": "<action>"}
    assert body["continue_final_message"] is True
    assert out == hf.act(PROMPT, {"prefill": "<action>"})


def test_gives_up_after_retries(hf):
    with _Server(hf, fail_first=10) as srv:
        pol = OpenAIPolicy("micro", srv.url, max_retries=2, timeout=5)
        with pytest.raises(EndpointError):
            pol.act(PROMPT, {"prefill": ""})
    assert pol.usage["retries"] == 2 and pol.usage["failures"] == 1


def test_cli_evaluate_selects_the_chat_api(hf, tmp_path):
    from typer.testing import CliRunner

    from cotdiag.cli import app

    with _Server(hf) as srv:
        res = CliRunner().invoke(app, [
            "evaluate", "--env", "CoTDiag-ALFWorld-v0", "--split", "valid_seen", "--policy", f"openai:micro@{srv.url}",
            "--policy_kwarg", "api=chat", "--mode", "prompt", "--episodes", "1",
            "--max_steps", "1", "--out", str(tmp_path)])
        body = srv.seen[-1]
    assert res.exit_code == 0, res.output
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant"]
    assert body["messages"][-1]["content"] == "<action>" and body["continue_final_message"] is True
