"""The OpenAI-compatible routes through the official ``openai`` SDK, unchanged, on a real server.

The examples' tiny-llm streams tokens; bundles built here check where the text, the chat
messages, the sampling parameters and the usage counts go, and that closing a stream stops the
model's generator.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.bundle_factory import write_bundle

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Yields " w0", " w1", ... (up to max_tokens, default 8), one every `delay_s` (bundle parameter);
# records the parameters it got and, when it closes, how many words it had sent. The prompt
# "crash" makes it raise after two words, "pause" makes it wait a minute after the first.
WORDS = """
    import asyncio
    import json
    from pathlib import Path
    from registry import ModelRunner, register

    @register("words")
    class Words(ModelRunner):
        async def generate(self, request):
            folder = Path(self.context.parameters["record_dir"])
            (folder / "params.json").write_text(json.dumps(dict(request.parameters)))
            delay = float(self.context.parameters.get("delay_s", 0))
            prompt = request["prompt"]
            sent = 0
            try:
                for i in range(int(request.param("max_tokens", 8))):
                    if i:
                        await asyncio.sleep(60 if prompt == "pause" else delay)
                    if i == 2 and prompt == "crash":
                        raise RuntimeError("words broke")
                    sent = i + 1
                    yield {"token": f" w{i}", "prompt_tokens": len(prompt)}
            finally:
                (folder / "closed.txt").write_text(str(sent))
"""

# Takes chat messages as JSON and answers "role=content;" per message, as bytes and text tensors.
CHAT_ECHO = """
    import numpy as np
    from registry import ModelRunner, register

    @register("chat-echo")
    class ChatEcho(ModelRunner):
        def generate(self, request):
            for message in request["messages"]:
                yield {"text": f"{message['role']}=".encode()}
                yield {"token": np.array([message["content"], ";"])}
"""

CLASSIFIER = """
    from registry import ModelRunner, register

    @register("classifier")
    class Classifier(ModelRunner):
        def predict(self, request):
            return {"label": "yes"}
"""

PAINTER = """
    from registry import ModelRunner, register

    @register("painter")
    class Painter(ModelRunner):
        def generate(self, request):
            yield {"text": "a picture"}
"""


@pytest.fixture
def store(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    shutil.copytree(EXAMPLES / "tiny-llm", store / "tiny-llm")
    record = tmp_path / "record"
    record.mkdir()
    text_input = {"inputs": [{"name": "prompt", "kind": "text"}]}
    words_params = {"record_dir": str(record), "delay_s": 0.05}
    write_bundle(store, "words", WORDS, config={**text_input, "parameters": words_params})
    chat_input = {"inputs": [{"name": "messages", "kind": "json"}]}
    write_bundle(store, "chat-echo", CHAT_ECHO, config=chat_input)
    write_bundle(store, "classifier", CLASSIFIER, config=text_input)
    image_input = {"inputs": [{"name": "image", "kind": "bytes"}]}
    write_bundle(store, "painter", PAINTER, config=image_input)
    return store


@pytest.fixture
def base_url(start_server, store: Path) -> str:
    running = start_server(store)
    return f"http://127.0.0.1:{running.server.http_port}/v1"


@pytest.fixture
def client(base_url: str) -> OpenAI:
    return OpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=30)


def _record(store: Path, name: str, seconds: float = 10.0) -> str:
    path = store.parent / "record" / name
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.02)
    raise AssertionError(f"{path} was not written")


def test_models_lists_every_ready_model_that_generates_text(client: OpenAI) -> None:
    models = client.models.list()
    assert sorted(m.id for m in models.data) == ["chat-echo", "tiny-llm", "words"]
    assert {m.owned_by for m in models.data} == {"modelrt"}
    assert client.models.retrieve("tiny-llm").id == "tiny-llm"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("classifier")


def test_completion_from_the_example_token_generator(client: OpenAI) -> None:
    answer = client.completions.create(model="tiny-llm", prompt="the river", max_tokens=6)
    choice = answer.choices[0]
    assert choice.text.strip()
    assert choice.finish_reason == "length"
    assert answer.usage is not None
    # tiny-llm reports no prompt tokens: the prompt's whitespace-separated words count.
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (2, 6)
    assert answer.usage.total_tokens == 8
    again = client.completions.create(model="tiny-llm:1", prompt="the river", max_tokens=6)
    assert again.choices[0].text == choice.text  # greedy: the same text for the same prompt


def test_streamed_completion_arrives_as_several_chunks(client: OpenAI) -> None:
    whole = client.completions.create(model="tiny-llm", prompt="the cat", max_tokens=10)
    stream = client.completions.create(
        model="tiny-llm", prompt="the cat", max_tokens=10, stream=True
    )
    chunks = list(stream)
    pieces = [c.choices[0].text for c in chunks if c.choices and c.choices[0].text]
    assert len(pieces) == 10
    assert "".join(pieces) == whole.choices[0].text
    assert chunks[-1].choices[0].finish_reason == "length"


def test_seed_and_sampling_parameters_reach_the_model(client: OpenAI, store: Path) -> None:
    sampled = [
        client.completions.create(model="tiny-llm", prompt="the", max_tokens=20, seed=s)
        for s in (7, 7)
    ]
    assert sampled[0].choices[0].text == sampled[1].choices[0].text
    client.completions.create(
        model="words", prompt="hi", max_tokens=3, temperature=0.5, top_p=0.9, seed=3, stop="x"
    )
    params = json.loads(_record(store, "params.json"))
    assert params == {"max_tokens": 3, "temperature": 0.5, "top_p": 0.9, "seed": 3, "stop": ["x"]}


def test_chat_completion_renders_messages_into_the_prompt(client: OpenAI, store: Path) -> None:
    answer = client.chat.completions.create(
        model="words",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        max_completion_tokens=4,
    )
    message = answer.choices[0].message
    assert (message.role, message.content) == ("assistant", " w0 w1 w2 w3")
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage is not None
    # words reports its prompt's length in characters: the rendered prompt's.
    assert answer.usage.prompt_tokens == len("system: Be brief.\nuser: Hi\nassistant:")
    assert answer.usage.completion_tokens == 4


def test_chat_messages_go_to_a_json_messages_input(client: OpenAI) -> None:
    answer = client.chat.completions.create(
        model="chat-echo",
        messages=[
            {"role": "system", "content": "s"},
            {"role": "user", "content": [{"type": "text", "text": "hello"}]},
        ],
    )
    assert answer.choices[0].message.content == "system=s;user=hello;"
    assert answer.choices[0].finish_reason == "stop"
    # chat-echo ignores max_tokens; the server stops it after that many items all the same.
    cut = client.chat.completions.create(
        model="chat-echo",
        messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
        max_tokens=3,
    )
    assert cut.choices[0].message.content == "user=a;user="
    assert cut.choices[0].finish_reason == "length"


def test_streamed_chat_with_usage(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="tiny-llm",
        messages=[{"role": "user", "content": "the river"}],
        max_tokens=5,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) == 5
    assert chunks[-2].choices[0].finish_reason == "length"
    usage = chunks[-1].usage
    assert chunks[-1].choices == []
    assert usage is not None
    assert usage.completion_tokens == 5
    assert usage.prompt_tokens == 4  # "user: the river\nassistant:"


def test_stop_sequence_cuts_the_text_and_ends_the_generator(client: OpenAI, store: Path) -> None:
    answer = client.completions.create(model="words", prompt="hi", max_tokens=200, stop=[" w3"])
    assert answer.choices[0].text == " w0 w1 w2"
    assert answer.choices[0].finish_reason == "stop"
    assert int(_record(store, "closed.txt")) < 20  # the stop ended it, long before max_tokens
    stream = client.completions.create(
        model="words", prompt="hi", max_tokens=200, stop=["1 w"], stream=True
    )
    assert "".join(c.choices[0].text for c in stream) == " w0 w"


def test_closing_the_stream_stops_the_model_generator(client: OpenAI, store: Path) -> None:
    stream = client.completions.create(model="words", prompt="hi", max_tokens=500, stream=True)
    first = next(iter(stream))
    assert first.choices[0].text == " w0"
    stream.close()
    sent = int(_record(store, "closed.txt"))
    assert sent < 100  # 500 words take 25 s at this pace; the close stopped it long before


def test_a_client_giving_up_on_a_whole_completion_stops_the_generator(
    base_url: str, store: Path
) -> None:
    body = {"model": "words", "prompt": "hi", "max_tokens": 500}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{base_url}/completions", json=body, timeout=1.0)
    assert int(_record(store, "closed.txt")) < 100


def test_closing_a_stream_stops_a_model_waiting_between_items(client: OpenAI, store: Path) -> None:
    stream = client.completions.create(model="words", prompt="pause", max_tokens=5, stream=True)
    assert next(iter(stream)).choices[0].text == " w0"
    stream.close()  # the model waits a minute before its next word; it is stopped long before
    assert int(_record(store, "closed.txt")) == 1


def test_request_timeout_header_ends_a_completion_and_stops_the_model(
    client: OpenAI, base_url: str, store: Path
) -> None:
    limit = {"Request-Timeout": "1"}
    stream = client.completions.create(
        model="words", prompt="pause", max_tokens=5, stream=True, extra_headers=limit
    )
    chunks = iter(stream)
    assert next(chunks).choices[0].text == " w0"
    with pytest.raises(openai.APIError) as caught:
        next(chunks)  # the model waits a minute before its next word
    assert "Request-Timeout" in caught.value.message
    assert int(_record(store, "closed.txt")) == 1
    body = {"model": "words", "prompt": "pause", "max_tokens": 5}
    whole = httpx.post(f"{base_url}/completions", json=body, headers=limit, timeout=30)
    assert whole.status_code == 504
    assert whole.json()["error"]["code"] == "request_timeout"


def test_async_client_streams_and_cancels(base_url: str, store: Path) -> None:
    async def main() -> list[str]:
        client = AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=30)
        stream = await client.chat.completions.create(
            model="words",
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=500,
            stream=True,
        )
        pieces = []
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
            if len(pieces) == 3:
                break
        await stream.close()
        await client.close()
        return pieces

    assert asyncio.run(main()) == [" w0", " w1", " w2"]
    assert int(_record(store, "closed.txt")) < 100


def test_a_model_failure_mid_stream_ends_it_with_an_error(client: OpenAI) -> None:
    stream = client.completions.create(model="words", prompt="crash", max_tokens=9, stream=True)
    pieces: list[str] = []

    def read() -> None:
        pieces.extend(chunk.choices[0].text for chunk in stream)

    with pytest.raises(openai.APIError) as caught:
        read()
    assert pieces == [" w0", " w1"]
    assert "error id" in caught.value.message  # the details are in the server log, not here
    with pytest.raises(openai.InternalServerError) as failed:
        client.completions.create(model="words", prompt="crash", max_tokens=9)
    assert failed.value.code == "model_error"


def test_unknown_model_is_not_found(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.completions.create(model="nobody", prompt="hi")
    assert "nobody" in caught.value.message
    assert caught.value.code == "model_not_found"


@pytest.mark.parametrize("model", ["classifier", "painter"])
def test_a_model_that_cannot_generate_text_is_a_bad_request(client: OpenAI, model: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "not_a_text_generator"
    assert caught.value.param == "model"


def test_bad_requests_name_the_problem(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model="tiny-llm", prompt="hi", n=2)
    assert "n=2" in caught.value.message
    assert caught.value.param == "n"
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model="tiny-llm", prompt="hi", max_tokens=10_000)
    assert "max_tokens" in caught.value.message  # the model's own check, before any chunk
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model="tiny-llm", prompt="hi", stream=True, max_tokens=10_000)
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model="tiny-llm", prompt=[1, 2, 3])
    assert caught.value.type == "invalid_request_error"


def test_errors_have_openai_shape_over_plain_http(base_url: str) -> None:
    reply = httpx.post(f"{base_url}/chat/completions", json={"model": "tiny-llm"}, timeout=10)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    assert error["param"] == "messages"
    reply = httpx.post(f"{base_url}/completions", content=b"{not json", timeout=10)
    assert reply.status_code == 400
    assert reply.json()["error"]["type"] == "invalid_request_error"
    assert "Content-Type: application/json" in reply.json()["error"]["message"]
    json_type = {"content-type": "application/json"}
    reply = httpx.post(f"{base_url}/completions", content=b"{not", headers=json_type, timeout=10)
    assert reply.status_code == 400
    assert reply.json()["error"]["message"].startswith("the body is not JSON: ")
    assert reply.json()["error"]["param"] is None


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b'{"model": "tiny-llm", "prompt": "\xff"}', "not UTF-8"),
        (b'{"model": "tiny-llm", "n": ' + b"9" * 5000 + b"}", "integer of more than"),
        (b'{"model": "tiny-llm", "prompt": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "too deeply"),
    ],
)
def test_an_undecodable_body_is_a_bad_request_saying_why(base_url: str, body, named) -> None:
    headers = {"content-type": "application/json"}
    reply = httpx.post(f"{base_url}/completions", content=body, headers=headers, timeout=10)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_request")
    assert error["message"].startswith("the body is not JSON: ")
    assert named in error["message"]


def test_a_wrong_key_is_refused_when_an_inference_token_is_set(start_server, store: Path) -> None:
    running = start_server(store, inference_token="right-token")
    base_url = f"http://127.0.0.1:{running.server.http_port}/v1"
    wrong = OpenAI(base_url=base_url, api_key="wrong-token", max_retries=0, timeout=30)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.completions.create(model="tiny-llm", prompt="hi")
    assert caught.value.code == "invalid_token"
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    right = OpenAI(base_url=base_url, api_key="right-token", max_retries=0, timeout=30)
    assert right.completions.create(model="tiny-llm", prompt="hi", max_tokens=2).choices


def _readme_block(start: str) -> str:
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    found = re.findall(r"```[a-z]*\n(.*?)```", readme, flags=re.S)
    return next(body for body in found if body.startswith(start))


def test_the_readme_snippets_run_as_written(base_url: str) -> None:
    here = base_url.removeprefix("http://").removesuffix("/v1")
    python = _readme_block("from openai import OpenAI").replace("127.0.0.1:8000", here)
    done = subprocess.run(
        [sys.executable, "-c", python], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.split()) == 12  # tiny-llm's words, printed as they streamed
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    shell = _readme_block("curl -s http://127.0.0.1:8000/v1/models").replace("127.0.0.1:8000", here)
    done = subprocess.run(["bash", "-e", "-c", shell], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert '"object":"list"' in done.stdout
    assert '"object":"text_completion"' in done.stdout
    assert done.stdout.rstrip().endswith("data: [DONE]")
