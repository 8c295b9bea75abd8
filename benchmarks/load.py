"""The load generator: drives one server from a process of its own and prints a JSON result.

``unary`` keeps a fixed number of calls in flight (echo, Predict, or a peer's own inference
call: MLServer's ModelInfer, TorchServe's Predictions) on one grpc.aio channel, bounded by a
request count and a time limit, after a short warm-up; ``generate`` reads one Generate stream.
Both print one JSON object on stdout. The echo and the identity Predict send the same bytes: a
PredictRequest carrying a [1, 256] float32 tensor; the peers get the same tensor in their own
message, also serialized and parsed on every call.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import grpc
import numpy as np
import peer_protos
from echo_server import FULL_METHOD as ECHO_METHOD

from modelrt import codec
from modelrt.v1 import runtime_pb2

PREDICT_METHOD = "/modelrt.v1.ModelRuntime/Predict"
GENERATE_METHOD = "/modelrt.v1.ModelRuntime/Generate"
CALL_TIMEOUT_S = 30.0
FEATURES = 256
WARMUP_ITEMS = 200
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 256 * 1024 * 1024)]


def _row(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((1, FEATURES)).astype(np.float32)


def predict_request(model: str, seed: int = 0) -> runtime_pb2.PredictRequest:
    """The request every unary target gets: one [1, 256] float32 tensor named ``x``.

    >>> len(predict_request("identity").SerializeToString()) > 1024
    True
    """
    return runtime_pb2.PredictRequest(model=model, inputs={"x": codec.python_to_value(_row(seed))})


def peer_call(target: str, model: str, seed: int = 0) -> tuple[str, Any, Any]:
    """(method, request, reply class) of a peer's inference call carrying the same [1, 256] row.

    >>> peer_call("torchserve", "mlp")[0]
    '/org.pytorch.serve.grpc.inference.InferenceAPIsService/Predictions'
    """
    classes = peer_protos.message_classes()
    row = _row(seed)
    if target == "oip":  # the tensor's bytes in raw_input_contents, as MLServer's clients send
        request = classes["inference.ModelInferRequest"](
            model_name=model,
            inputs=[{"name": "x", "datatype": "FP32", "shape": list(row.shape)}],
            raw_input_contents=[row.tobytes()],
        )
        return peer_protos.OIP_METHOD, request, classes["inference.ModelInferResponse"]
    request = classes["org.pytorch.serve.grpc.inference.PredictionsRequest"](
        model_name=model, input={"data": row.tobytes()}
    )
    reply = classes["org.pytorch.serve.grpc.inference.PredictionResponse"]
    return peer_protos.TORCHSERVE_METHOD, request, reply


@dataclass
class Phase:
    """What one measured phase saw."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class UnaryResult:
    """One concurrency level against one target; times in milliseconds."""

    concurrency: int
    requests: int
    errors: int
    first_error: str
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    sent_with_warmup: int
    client_cpu_s: float


async def drive(call: Any, request: Any, concurrency: int, count: int, seconds: float) -> Phase:
    """Keep ``concurrency`` calls in flight until ``count`` were sent or ``seconds`` passed."""
    phase = Phase()
    remaining = count
    started = time.perf_counter()
    deadline = started + seconds

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            sent = time.perf_counter()
            try:
                await call(request, timeout=CALL_TIMEOUT_S)
            except grpc.aio.AioRpcError as exc:
                phase.errors.append(f"{exc.code().name}: {exc.details()}")
                continue
            phase.latencies.append(time.perf_counter() - sent)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    phase.seconds = time.perf_counter() - started
    return phase


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def _checker(target: str, model: str, request: Any) -> Callable[[Any], None]:
    """A sanity check of the first answer, so a broken target never yields fast numbers."""

    def check(reply: Any) -> None:
        if target == "echo":
            ok = reply == request
        elif target == "oip":
            ok = [list(out.shape) for out in reply.outputs] == [[1, 10]]
        elif target == "torchserve":  # our handler answers the float32 bytes of [1, 10]
            ok = len(reply.prediction) == 10 * 4
        elif model == "identity":
            sent = codec.value_to_python(request.inputs["x"])
            ok = np.array_equal(codec.value_to_python(reply.outputs["y"]), sent)
        else:
            ok = codec.value_to_python(reply.outputs["probabilities"]).shape == (1, 10)
        if not ok:
            raise SystemExit(f"unexpected answer from {target} {model}: {reply!r:.200}")

    return check


async def run_unary(args: argparse.Namespace) -> UnaryResult:
    """Warm up, then measure one concurrency level."""
    if args.target in ("oip", "torchserve"):
        method, request, reply_type = peer_call(args.target, args.model)
    else:
        request = predict_request(args.model)
        method, reply_type = (
            (ECHO_METHOD, runtime_pb2.PredictRequest)
            if args.target == "echo"
            else (PREDICT_METHOD, runtime_pb2.PredictResponse)
        )
    # Each channel its own connection: with --frontends N the kernel spreads connections (not
    # calls) over the front ends sharing the port.
    options = [*CHANNEL_OPTIONS, ("grpc.use_local_subchannel_pool", 1)]
    channels = [
        grpc.aio.insecure_channel(args.address, options=options) for _ in range(args.channels)
    ]
    async with contextlib.AsyncExitStack() as stack:
        for channel in channels:
            await stack.enter_async_context(channel)
        calls = itertools.cycle(
            [
                channel.unary_unary(
                    method,
                    request_serializer=type(request).SerializeToString,
                    response_deserializer=reply_type.FromString,
                )
                for channel in channels
            ]
        )

        def call(message: Any, timeout: float) -> Any:  # each call on the next channel
            return next(calls)(message, timeout=timeout)

        _checker(args.target, args.model, request)(await call(request, timeout=CALL_TIMEOUT_S))
        warm = await drive(call, request, args.concurrency, args.warmup, args.seconds / 4)
        cpu = time.process_time()
        phase = await drive(call, request, args.concurrency, args.requests, args.seconds)
        cpu = time.process_time() - cpu
    latencies = sorted(phase.latencies)
    done = len(latencies)
    return UnaryResult(
        concurrency=args.concurrency,
        requests=done,
        errors=len(phase.errors),
        first_error=(phase.errors or warm.errors or [""])[0],
        seconds=phase.seconds,
        rps=done / phase.seconds if phase.seconds else 0.0,
        p50_ms=1000 * _percentile(latencies, 0.50),
        p99_ms=1000 * _percentile(latencies, 0.99),
        mean_ms=1000 * sum(latencies) / done if done else float("nan"),
        sent_with_warmup=1 + len(warm.latencies) + len(warm.errors) + done + len(phase.errors),
        client_cpu_s=cpu,
    )


async def run_generate(args: argparse.Namespace) -> dict[str, Any]:
    """Read one Generate stream of ``args.items`` items (after a short warm-up stream)."""
    async with grpc.aio.insecure_channel(args.address, options=CHANNEL_OPTIONS) as channel:
        call = channel.unary_stream(
            GENERATE_METHOD,
            request_serializer=runtime_pb2.GenerateRequest.SerializeToString,
            response_deserializer=runtime_pb2.GenerateResponse.FromString,
        )

        async def stream(items: int) -> dict[str, Any]:
            params = codec.dict_to_struct({"n": items})
            request = runtime_pb2.GenerateRequest(model=args.model, parameters=params)
            count, first, error = 0, float("nan"), ""
            cpu, started = time.process_time(), time.perf_counter()
            try:
                async for _ in call(request, timeout=args.seconds):
                    if count == 0:
                        first = time.perf_counter() - started
                    count += 1
            except grpc.aio.AioRpcError as exc:
                error = f"{exc.code().name}: {exc.details()}"
            seconds = time.perf_counter() - started
            return {
                "items": count,
                "seconds": seconds,
                "items_per_s": count / seconds if seconds else 0.0,
                "first_item_ms": 1000 * first,
                "error": error,
                "client_cpu_s": time.process_time() - cpu,
            }

        warmup = await stream(min(WARMUP_ITEMS, args.items))
        return {**await stream(args.items), "warmup_items": warmup["items"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    unary = commands.add_parser("unary", help="echo or Predict at one concurrency level")
    unary.add_argument("--target", choices=("echo", "predict", "oip", "torchserve"), required=True)
    unary.add_argument("--model", default="identity")
    unary.add_argument("--concurrency", type=int, required=True)
    unary.add_argument("--requests", type=int, required=True)
    unary.add_argument("--warmup", type=int, default=100)
    unary.add_argument("--channels", type=int, default=1, help="connections the calls spread over")
    generate = commands.add_parser("generate", help="one Generate stream")
    generate.add_argument("--model", default="tokens")
    generate.add_argument("--items", type=int, required=True)
    for command in (unary, generate):
        command.add_argument("--address", required=True)
        command.add_argument("--seconds", type=float, required=True, help="time limit")
    args = parser.parse_args()
    if args.command == "unary":
        result: dict[str, Any] = asdict(asyncio.run(run_unary(args)))
    else:
        result = asyncio.run(run_generate(args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
