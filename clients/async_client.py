"""The asyncio client: the same API as Client, with async methods and async iterators."""

# `timeout` is the gRPC deadline sent to the server, the same keyword as the blocking Client.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clients.channel import DEFAULT_MAX_MESSAGE_BYTES, ChannelConfig
from clients.errors import from_rpc_error
from clients.types import ModelInfo, Prediction, StreamItem, UploadResult
from clients.uploading import (
    CHUNK_BYTES,
    Phase,
    Progress,
    bundle_archive,
    check_upload_names,
    measure,
    upload_header,
    upload_messages,
)
from clients.wire import (
    Inputs,
    generate_request,
    model_info_from_proto,
    predict_request,
    prediction_from_proto,
    stream_item_from_proto,
    stream_request,
)
from modelrt.codec import dict_to_struct
from modelrt.v1 import runtime_pb2, runtime_pb2_grpc

RequestSource = Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]]


class _AsyncRequestFeed:
    """Turns the caller's (async) iterable of inputs into StreamRequests as it yields them.

    gRPC cancels the call when the iterable raises; the exception is kept so the reader re-raises
    it instead of a bare cancellation.
    """

    def __init__(
        self,
        requests: RequestSource,
        model: str,
        version: str,
        request_id: str,
        parameters: Mapping[str, Any] | None,
        typed: bool = False,
    ) -> None:
        self._requests = requests
        self._typed = typed
        self._model = model
        self._version = version
        self._request_id = request_id
        self._parameters = dict_to_struct(parameters)
        self.error: BaseException | None = None

    def _build(self, inputs: Inputs, first: bool) -> runtime_pb2.StreamRequest:
        return stream_request(
            inputs,
            self._parameters,
            first=first,
            model=self._model,
            version=self._version,
            request_id=self._request_id,
            typed=self._typed,
        )

    async def __aiter__(self) -> AsyncIterator[runtime_pb2.StreamRequest]:
        first = True
        try:
            if isinstance(self._requests, AsyncIterable):
                async for inputs in self._requests:
                    yield self._build(inputs, first)
                    first = False
            else:
                for inputs in self._requests:
                    yield self._build(inputs, first)
                    first = False
        except Exception as exc:
            self.error = exc
            raise


class AsyncItemStream(AsyncIterator[StreamItem]):
    """The items of a Generate or Stream call, yielded as the server sends them.

    ``await aclose()`` (or leaving an ``async with`` block) cancels the call on the server.

    >>> async with client.generate("llm", {"prompt": "hi"}) as items:
    ...     async for item in items:
    ...         print(item.structured)
    """

    def __init__(self, call: Any, address: str, feed: _AsyncRequestFeed | None = None) -> None:
        self._call = call
        self._address = address
        self._feed = feed
        self._closed = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> StreamItem:
        if self._closed:
            raise StopAsyncIteration
        try:
            response = await self._call.read()
        except grpc.aio.AioRpcError as exc:
            self._closed = True
            self._raise_feed_error()
            raise from_rpc_error(exc, self._address) from None
        except asyncio.CancelledError:
            # Either a failing request iterable cancelled the call (report its error, not the
            # cancel) or the caller's task was cancelled (stop the call on the server too).
            self._closed = True
            self._call.cancel()
            self._raise_feed_error()
            raise
        if response is grpc.aio.EOF:
            self._closed = True
            self._raise_feed_error()
            raise StopAsyncIteration
        return stream_item_from_proto(response)

    def _raise_feed_error(self) -> None:
        if self._feed is not None and self._feed.error is not None:
            raise self._feed.error

    async def aclose(self) -> None:
        """Stop reading and cancel the call if it is still running."""
        self._closed = True
        self._call.cancel()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class AsyncClient:
    """An asyncio modelrt client. Failed calls raise a typed ModelrtClientError.

    The channel is opened on the first call, on the running event loop.

    ``token`` is sent as ``authorization: Bearer <token>`` on every call. TLS is on with
    ``secure=True`` (system roots) or ``root_certificates`` (PEM bytes of the CA to trust); add
    ``certificate_chain`` and ``private_key`` (PEM bytes) for mutual TLS.
    ``typed_tensors=True`` sends and asks for tensors in the typed form, as Client does.

    >>> async with AsyncClient("127.0.0.1:50051", timeout=10) as client:
    ...     prediction = await client.predict("echo", {"x": np.arange(3)})
    """

    def __init__(
        self,
        address: str = "127.0.0.1:50051",
        *,
        timeout: float | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        secure: bool = False,
        credentials: grpc.ChannelCredentials | None = None,
        token: str | None = None,
        root_certificates: bytes | None = None,
        certificate_chain: bytes | None = None,
        private_key: bytes | None = None,
        typed_tensors: bool = False,
    ) -> None:
        self._config = ChannelConfig(
            address,
            max_message_bytes,
            secure=secure,
            channel_credentials=credentials,
            token=token,
            root_certificates=root_certificates,
            certificate_chain=certificate_chain,
            private_key=private_key,
        )
        self._timeout = timeout
        self._typed = typed_tensors
        self._channel: grpc.aio.Channel | None = None
        self._stub: Any = None
        self._health: Any = None

    @property
    def address(self) -> str:
        """The server address this client talks to."""
        return self._config.address

    def _stubs(self) -> tuple[Any, Any]:
        if self._channel is None:
            self._channel = self._config.aio_channel()
            self._stub = runtime_pb2_grpc.ModelRuntimeStub(self._channel)
            self._health = health_pb2_grpc.HealthStub(self._channel)
        return self._stub, self._health

    def _deadline(self, timeout: float | None) -> float | None:
        return self._timeout if timeout is None else timeout

    async def _unary(self, method_name: str, request: Any, timeout: float | None) -> Any:
        stub, _ = self._stubs()
        try:
            return await getattr(stub, method_name)(request, timeout=self._deadline(timeout))
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, self.address) from None

    async def predict(
        self,
        model: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        version: str = "",
        parameters: Mapping[str, Any] | None = None,
        request_id: str = "",
        timeout: float | None = None,
    ) -> Prediction:
        """Call Predict: named inputs in, one Prediction out.

        >>> prediction = await client.predict("echo", {"text": "hi"})
        """
        request = predict_request(model, inputs, version, parameters, request_id, self._typed)
        return prediction_from_proto(await self._unary("Predict", request, timeout))

    def generate(
        self,
        model: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        version: str = "",
        parameters: Mapping[str, Any] | None = None,
        request_id: str = "",
        timeout: float | None = None,
    ) -> AsyncItemStream:
        """Call Generate: items are yielded as the model produces them.

        >>> async for item in client.generate("llm", {"prompt": "Hello"}):
        ...     print(item.structured["token"], end="")
        """
        stub, _ = self._stubs()
        request = generate_request(model, inputs, version, parameters, request_id, self._typed)
        call = stub.Generate(request, timeout=self._deadline(timeout))
        return AsyncItemStream(call, self.address)

    def stream(
        self,
        model: str,
        requests: RequestSource,
        *,
        version: str = "",
        parameters: Mapping[str, Any] | None = None,
        request_id: str = "",
        timeout: float | None = None,
    ) -> AsyncItemStream:
        """Call Stream: each dict of inputs from ``requests`` (sync or async) is sent as it comes.

        >>> async for item in client.stream("asr", microphone_chunks()):
        ...     print(item.structured)
        """
        stub, _ = self._stubs()
        feed = _AsyncRequestFeed(requests, model, version, request_id, parameters, self._typed)
        call = stub.Stream(feed.__aiter__(), timeout=self._deadline(timeout))
        return AsyncItemStream(call, self.address, feed)

    async def list_models(self, name: str = "", *, timeout: float | None = None) -> list[ModelInfo]:
        """Every model version the server knows (only those of ``name`` when given).

        >>> [m.name for m in await client.list_models()]
        ['echo']
        """
        request = runtime_pb2.ListModelsRequest(name=name)
        response = await self._unary("ListModels", request, timeout)
        return [model_info_from_proto(model) for model in response.models]

    async def get_model(
        self, name: str, version: str = "", *, timeout: float | None = None
    ) -> ModelInfo:
        """Describe one model version (the newest when ``version`` is empty).

        >>> (await client.get_model("echo")).state
        'READY'
        """
        request = runtime_pb2.GetModelRequest(name=name, version=version)
        return model_info_from_proto((await self._unary("GetModel", request, timeout)).model)

    async def load_model(
        self, name: str, version: str = "", *, timeout: float | None = None
    ) -> ModelInfo:
        """Load (or reload) a model version; the result is READY or FAILED with a reason.

        >>> (await client.load_model("echo")).state
        'READY'
        """
        request = runtime_pb2.LoadModelRequest(name=name, version=version)
        return model_info_from_proto((await self._unary("LoadModel", request, timeout)).model)

    async def unload_model(
        self, name: str, version: str = "", *, timeout: float | None = None
    ) -> list[ModelInfo]:
        """Stop serving a model version (every loaded version when ``version`` is empty).

        >>> [m.state for m in await client.unload_model("echo")]
        ['UNLOADED']
        """
        request = runtime_pb2.UnloadModelRequest(name=name, version=version)
        response = await self._unary("UnloadModel", request, timeout)
        return [model_info_from_proto(model) for model in response.models]

    async def delete_model(
        self, name: str, version: str = "", *, timeout: float | None = None
    ) -> list[str]:
        """Unload a model version and remove it from the store; returns the deleted versions.

        >>> await client.delete_model("echo")
        ['1']
        """
        request = runtime_pb2.DeleteModelRequest(name=name, version=version)
        return list((await self._unary("DeleteModel", request, timeout)).versions)

    async def upload(
        self,
        path: str | Path,
        *,
        namespace: str = "",
        version: str = "",
        bundle_format: str = "",
        model_type: str = "",
        framework: str = "",
        description: str = "",
        labels: Sequence[str] = (),
        skip_load: bool = False,
        progress: Progress | None = None,
        chunk_bytes: int = CHUNK_BYTES,
        timeout: float | None = None,
        phase: Phase | None = None,
    ) -> UploadResult:
        """Upload a bundle (a folder, zipped on the fly, or a .zip) as a new model version.

        The namespace defaults to the bundle's own model name and the version to the next free
        one; ``model_type``, ``framework``, ``description`` and ``labels`` form its model card.
        The server loads it unless ``skip_load``. ``progress(sent, total)`` follows the bytes;
        ``phase(name)`` is called as the upload moves on: "pack", "send", then "check". A
        namespace or version the server would refuse is refused before anything is zipped.

        >>> await client.upload("examples/sentiment", model_type="classification").model.state
        'READY'
        """
        check_upload_names(namespace, version)
        if phase is not None:
            phase("pack")
        with bundle_archive(Path(path)) as archive:
            size, digest = await asyncio.to_thread(measure, archive)
            header = upload_header(
                size, digest, namespace=namespace, version=version,
                bundle_format=bundle_format, model_type=model_type, framework=framework,
                description=description, labels=labels, skip_load=skip_load,
            )  # fmt: skip
            chunks = upload_messages(archive, header, chunk_bytes, progress, phase)
            messages = _read_in_thread(chunks)
            stub, _ = self._stubs()
            try:
                reply = await stub.Upload(messages, timeout=self._deadline(timeout))
            except grpc.RpcError as exc:
                raise from_rpc_error(exc, self.address) from None
        return UploadResult(model_info_from_proto(reply.model), reply.sha256)

    async def health(self, service: str = "", *, timeout: float | None = None) -> str:
        """The standard health status of ``service``: "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN".

        >>> await client.health("echo")
        'SERVING'
        """
        _, health = self._stubs()
        request = health_pb2.HealthCheckRequest(service=service)
        try:
            response = await health.Check(request, timeout=self._deadline(timeout))
        except grpc.aio.AioRpcError as exc:
            if exc.code() is grpc.StatusCode.NOT_FOUND:
                return "SERVICE_UNKNOWN"
            raise from_rpc_error(exc, self.address) from None
        name: str = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
        return name

    async def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


async def _read_in_thread(messages: Iterator[Any]) -> AsyncIterator[Any]:
    """Iterate a blocking iterator (file reads) without blocking the event loop."""
    while (message := await asyncio.to_thread(next, messages, None)) is not None:
        yield message
