"""Runs model hooks inside the server process, never on the server's event loop.

Sync hooks run in a shared bounded thread pool; sync generators are advanced one item per pool
task. Async hooks run on a private event loop thread per model instance. Stream calls get a
thread of their own (bounded) since the model blocks on its input iterator.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import queue
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import aclosing
from typing import Any, TypeVar

from loader.bundle import BundleSpec, import_bundle
from loader.frameworks import load_bundle_weights
from registry.errors import HookNotImplementedError, ModelrtError
from registry.runner import ModelContext, ModelRunner, Request, implemented_hooks
from runtime.errors import ModelExecutionError, model_failure
from runtime.instances.executor import Executor, InstanceSpec, Item, LoadedModel, OnResult
from runtime.instances.model_threads import END, ModelLoop, drain
from runtime.instances.outputs import ItemFailure, shape_output
from runtime.instances.payload import StreamInput
from runtime.instances.stream_inputs import checked_stream
from runtime.instances.wire import (
    Answer,
    WireRequest,
    decode_request,
    decode_request_form,
    encode_answer,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")
_END = object()


class InProcessExecutor(Executor):
    """One model instance in the server process (see the module docstring for where code runs)."""

    def __init__(
        self,
        spec: InstanceSpec,
        pool: concurrent.futures.ThreadPoolExecutor,
        stream_slots: asyncio.Semaphore,
    ) -> None:
        self.spec = spec
        self.pool = pool
        self.stream_slots = stream_slots
        self.bundle: BundleSpec | None = None
        self.hooks: frozenset[str] = frozenset()
        self.runner: ModelRunner | None = None
        self.model_loop: ModelLoop | None = None
        prepared = spec.prepared
        self.context = ModelContext(
            name=prepared.name,
            version=prepared.version,
            bundle_dir=prepared.root,
            device=spec.device,
            config=prepared.config.model_dump(mode="json"),
            parameters=dict(prepared.config.parameters),
            logger=logging.getLogger(f"modelrt.model.{prepared.name}"),
            weights_loader=load_bundle_weights,
        )

    # -- running callables in the right place -------------------------------------------------

    async def _in_pool(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, func, *args)

    async def _call(self, func: Callable[..., Any], *args: Any) -> Any:
        """Call a hook: async ones on the model loop, sync ones in the pool."""
        if inspect.iscoroutinefunction(func):
            assert self.model_loop is not None
            return await self.model_loop.run(func(*args))
        return await self._in_pool(func, *args)

    def _model(self) -> ModelRunner:
        if self.runner is None:
            raise ModelExecutionError(f"model {self.context.name!r} is not started")
        return self.runner

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> LoadedModel:
        bundle = await asyncio.to_thread(
            import_bundle, self.spec.prepared, strict_requirements=self.spec.strict_requirements
        )
        self.bundle = bundle
        self.hooks = implemented_hooks(bundle.runner_cls)
        self.model_loop = ModelLoop(f"model-{self.context.name}")
        try:
            runner = await self._in_pool(bundle.runner_cls, self.context)
            result = await self._call(runner.load_model)
            if inspect.isawaitable(result):  # a sync load_model that returned a coroutine
                await self.model_loop.run(result)
        except ModelrtError:
            raise
        except Exception as exc:
            logger.exception("load_model of %s failed", self.context.name)
            raise ModelExecutionError(
                f"load_model raised {_describe(exc)}", reason="LOAD_FAILED", model=self.context.name
            ) from None
        self.runner = runner
        return LoadedModel(
            bundle.capabilities, _json_schema(bundle.schema_cls), tuple(bundle.warnings)
        )

    async def stop(self) -> None:
        self.runner = None
        if self.model_loop is not None:
            self.model_loop.close()
            self.model_loop = None
        if self.bundle is not None:
            self.bundle.package.unmount()
            self.bundle = None

    def _shape(self, result: object) -> Item:
        try:
            schema = self.bundle.schema_cls if self.bundle else None
            return shape_output(result, schema, self.context.name)
        except ModelExecutionError as exc:
            return ItemFailure(exc)
        except Exception as exc:  # say, a result too deep to serialize: this item fails alone
            return ItemFailure(model_failure(self.context.name, "", exc))

    # -- unary -----------------------------------------------------------------------------------

    async def predict_batch(self, requests: list[WireRequest]) -> list[Answer]:
        model = self._model()
        if "predict_batch" not in self.hooks:
            answers: dict[int, Answer] = {}
            await self.predict_each(requests, answers.__setitem__)
            return [answers[index] for index in range(len(requests))]
        decoded, valid, typed = self._decode(requests)
        try:
            results = await self._call(model.predict_batch, valid) if valid else []
        except Exception as exc:
            raise self._failure(valid[0], exc) from None
        return self._answers(decoded, self._batch_items(valid, results), typed)

    async def predict_each(self, requests: list[WireRequest], on_result: OnResult) -> None:
        model = self._model()
        hook, wrap = self._single_hook(model)
        decoded, _, typed = self._decode(requests)
        for index, request in enumerate(decoded):
            if isinstance(request, ItemFailure):  # its inputs failed the check
                on_result(index, request)
                continue
            try:
                result = await self._call(hook, [request] if wrap else request)
                item = self._single_item(request, result, wrap)
            except Exception as exc:
                item = ItemFailure(self._failure(request, exc))
            on_result(index, encode_answer(item, self.context.name, typed[index]))

    # -- unary calls on the caller's thread (sync hooks only) ------------------------------------

    @property
    def sync_unary(self) -> bool:
        """Whether the unary hooks are plain functions, so any thread may call them directly."""
        model = self._model()
        hooks = [getattr(model, h) for h in ("predict", "predict_batch") if h in self.hooks]
        return not any(inspect.iscoroutinefunction(hook) for hook in hooks)

    def predict_batch_sync(self, requests: list[WireRequest]) -> list[Answer]:
        """predict_batch on the calling thread (see sync_unary)."""
        model = self._model()
        if "predict_batch" not in self.hooks:
            return [answer for _, answer in self.predict_each_sync(requests)]
        decoded, valid, typed = self._decode(requests)
        try:
            results = model.predict_batch(valid) if valid else []
        except Exception as exc:
            raise self._failure(valid[0], exc) from None
        return self._answers(decoded, self._batch_items(valid, results), typed)

    def predict_each_sync(self, requests: list[WireRequest]) -> Iterator[tuple[int, Answer]]:
        """predict_each on the calling thread (see sync_unary)."""
        model = self._model()
        hook, wrap = self._single_hook(model)
        decoded, _, typed = self._decode(requests)
        for index, request in enumerate(decoded):
            if isinstance(request, ItemFailure):  # its inputs failed the check
                yield index, request
                continue
            try:
                item = self._single_item(request, hook([request] if wrap else request), wrap)
            except Exception as exc:
                item = ItemFailure(self._failure(request, exc))
            yield index, encode_answer(item, self.context.name, typed[index])

    # -- shared by both -------------------------------------------------------------------------

    def _decode(
        self, requests: list[WireRequest]
    ) -> tuple[list[Request | ItemFailure], list[Request], list[bool]]:
        """Each request as the model sees it or its failed input check; the valid ones; and
        whether each asked for its output tensors in the typed form."""
        specs = self.spec.prepared.config.inputs
        decoded: list[Request | ItemFailure] = []
        valid: list[Request] = []
        typed: list[bool] = []
        for wire in requests:
            try:
                request, form = decode_request_form(wire, specs)
            except ModelrtError as exc:
                decoded.append(ItemFailure(exc))
                typed.append(False)
            except Exception as exc:  # fails this request alone, never its batch or instance
                decoded.append(ItemFailure(model_failure(self.context.name, wire[1], exc)))
                typed.append(False)
            else:
                decoded.append(request)
                valid.append(request)
                typed.append(form)
        return decoded, valid, typed

    def _answers(
        self, decoded: list[Request | ItemFailure], items: list[Item], typed: list[bool]
    ) -> list[Answer]:
        """Encoded answers in request order: the model's items fill the valid requests' places."""
        produced = iter(items)
        name = self.context.name
        return [
            encode_answer(next(produced) if isinstance(request, Request) else request, name, form)
            for request, form in zip(decoded, typed, strict=True)
        ]

    def _failure(self, request: Request, exc: Exception) -> ModelrtError:
        """A hook's exception as the error its callers get (model errors are INTERNAL)."""
        if isinstance(exc, ModelrtError):
            return exc
        return model_failure(self.context.name, request.id, exc)

    def _single_hook(self, model: ModelRunner) -> tuple[Callable[[Any], Any], bool]:
        """The hook answering one request, and whether it takes a list (predict_batch)."""
        if "predict" in self.hooks:
            return model.predict, False
        return model.predict_batch, True

    def _single_item(self, request: Request, result: Any, wrapped: bool) -> Item:
        return self._batch_items([request], result)[0] if wrapped else self._shape(result)

    def _batch_items(self, requests: list[Request], results: Any) -> list[Item]:
        if not isinstance(results, list | tuple) or len(results) != len(requests):
            got = len(results) if isinstance(results, list | tuple) else type(results).__name__
            raise ModelExecutionError(
                f"predict_batch of {self.context.name!r} returned {got} results for "
                f"{len(requests)} requests",
                model=self.context.name,
            )
        # A ModelrtError in a request's place (a refused input, say) fails only that request.
        return [
            ItemFailure(result) if isinstance(result, ModelrtError) else self._shape(result)
            for result in results
        ]

    # -- streaming -------------------------------------------------------------------------------

    async def generate(self, request: WireRequest) -> AsyncGenerator[Any, None]:
        model = self._model()
        if "generate" not in self.hooks:
            raise HookNotImplementedError(
                f"model {self.context.name!r} does not implement generate"
            )
        items = self._generate(model, decode_request(request, self.spec.prepared.config.inputs))
        async with aclosing(items):
            async for item in items:
                yield item

    async def _generate(self, model: ModelRunner, request: Request) -> AsyncGenerator[Any, None]:
        try:
            produced = await self._call(model.generate, request)
            async with aclosing(drain(produced, self.pool, self.model_loop)) as items:
                async for item in items:
                    yield self._shape(item)
        except ModelrtError:
            raise
        except Exception as exc:
            raise model_failure(self.context.name, request.id, exc) from None

    async def stream(self, requests: AsyncIterator[StreamInput]) -> AsyncGenerator[Any, None]:
        self._model()
        if "stream" not in self.hooks:
            raise HookNotImplementedError(f"model {self.context.name!r} does not implement stream")
        specs = self.spec.prepared.config.inputs
        items = checked_stream(requests, specs, self.context.name, self._stream)
        async with aclosing(items):
            async for item in items:
                yield item

    async def _stream(self, requests: AsyncIterator[Request]) -> AsyncGenerator[Item, None]:
        model = self._model()
        async with self.stream_slots:
            if inspect.isasyncgenfunction(model.stream):
                items = self._stream_async(model, requests)
            else:
                items = self._stream_sync(model, requests)
            try:
                async with aclosing(items):
                    async for item in items:
                        yield self._shape(item)
            except ModelrtError:
                raise
            except Exception as exc:
                raise model_failure(self.context.name, "", exc) from None

    async def _stream_sync(
        self, model: ModelRunner, requests: AsyncIterator[Request]
    ) -> AsyncGenerator[Any, None]:
        """A sync stream hook blocks on its input, so it gets a thread of its own."""
        inbox: queue.Queue[Any] = queue.Queue()
        thread = concurrent.futures.ThreadPoolExecutor(1, f"stream-{self.context.name}")

        def incoming() -> Iterator[Request]:
            while (item := inbox.get()) is not END:
                yield item

        async def pump() -> None:
            try:
                async for request in requests:
                    inbox.put(request)
            finally:
                inbox.put(END)

        pumping = asyncio.create_task(pump())
        try:
            produced = await asyncio.wrap_future(thread.submit(model.stream, incoming()))
            async with aclosing(drain(produced, thread, self.model_loop)) as items:
                async for item in items:
                    yield item
        finally:
            pumping.cancel()
            inbox.put(END)
            thread.shutdown(wait=False)

    async def _stream_async(
        self, model: ModelRunner, requests: AsyncIterator[Request]
    ) -> AsyncGenerator[Any, None]:
        assert self.model_loop is not None
        model_loop = self.model_loop.loop
        inbox: asyncio.Queue[Any] = asyncio.Queue()  # used on the model loop only

        async def incoming() -> AsyncIterator[Request]:
            while (item := await inbox.get()) is not END:
                yield item

        async def pump() -> None:
            try:
                async for request in requests:
                    model_loop.call_soon_threadsafe(inbox.put_nowait, request)
            finally:
                model_loop.call_soon_threadsafe(inbox.put_nowait, END)

        pumping = asyncio.create_task(pump())
        try:
            produced = model.stream(incoming())
            async with aclosing(drain(produced, self.pool, self.model_loop)) as items:
                async for item in items:
                    yield item
        finally:
            pumping.cancel()
            model_loop.call_soon_threadsafe(inbox.put_nowait, END)


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _json_schema(schema_cls: type | None) -> dict[str, Any] | None:
    if schema_cls is None:
        return None
    if hasattr(schema_cls, "model_json_schema"):
        return dict(schema_cls.model_json_schema())
    return dict(schema_cls.schema())  # type: ignore[attr-defined]  # pydantic v1-style


def make_inprocess_factory(
    pool: concurrent.futures.ThreadPoolExecutor, stream_slots: asyncio.Semaphore
) -> Callable[[InstanceSpec], Executor]:
    """An ExecutorFactory that builds InProcessExecutors sharing ``pool``."""

    def build(spec: InstanceSpec) -> Executor:
        return InProcessExecutor(spec, pool, stream_slots)

    return build
