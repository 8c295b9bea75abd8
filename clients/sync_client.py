"""The blocking client: Predict, Generate, Stream, model lifecycle and health over one channel."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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


class _RequestFeed:
    """Turns the caller's iterable of inputs into StreamRequests, lazily, on gRPC's sender thread.

    An exception raised by the caller's iterable is kept (and the call cancelled) so the reader
    re-raises it instead of gRPC's bare "Exception iterating requests!".
    """

    def __init__(self, requests: Iterable[Inputs], build: Callable[[Inputs, bool], Any]) -> None:
        self._requests = requests
        self._build = build
        self._lock = threading.Lock()
        self._call: Any = None
        self.error: BaseException | None = None

    def __iter__(self) -> Iterator[runtime_pb2.StreamRequest]:
        first = True
        try:
            for inputs in self._requests:
                yield self._build(inputs, first)
                first = False
        except Exception as exc:
            with self._lock:
                self.error = exc
                call = self._call
            if call is not None:
                call.cancel()

    def attach(self, call: Any) -> None:
        """Remember the call to cancel when the iterable fails (it may have failed already)."""
        with self._lock:
            self._call = call
            failed = self.error is not None
        if failed:
            call.cancel()


class ItemStream(Iterator[StreamItem]):
    """The items of a Generate or Stream call, yielded as the server sends them.

    ``close()`` (or leaving a ``with`` block) cancels the call on the server.

    >>> with client.generate("llm", {"prompt": "hi"}) as items:
    ...     first = next(items)
    """

    def __init__(self, call: Any, address: str, feed: _RequestFeed | None = None) -> None:
        self._call = call
        self._address = address
        self._feed = feed
        self._closed = False

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> StreamItem:
        if self._closed:
            raise StopIteration
        try:
            response = next(self._call)
        except StopIteration:
            self._closed = True
            self._raise_feed_error()
            raise
        except grpc.RpcError as exc:
            self._closed = True
            self._raise_feed_error()
            raise from_rpc_error(exc, self._address) from None
        return stream_item_from_proto(response)

    def _raise_feed_error(self) -> None:
        if self._feed is not None and self._feed.error is not None:
            raise self._feed.error

    def close(self) -> None:
        """Stop reading and cancel the call if it is still running."""
        self._closed = True
        self._call.cancel()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class Client:
    """A blocking modelrt client. Failed calls raise a typed ModelrtClientError.

    ``timeout`` (seconds) is the default deadline of every call; each method can override it.

    ``token`` is sent as ``authorization: Bearer <token>`` on every call. TLS is on with
    ``secure=True`` (system roots) or ``root_certificates`` (PEM bytes of the CA to trust); add
    ``certificate_chain`` and ``private_key`` (PEM bytes) for mutual TLS.

    ``typed_tensors=True`` sends tensors in the typed form (``fp32_contents`` and so on) and asks
    for the response tensors in it too (``output_form``); the default is raw_data, the fast path.

    >>> with Client("127.0.0.1:50051", timeout=10) as client:
    ...     client.predict("echo", {"x": np.arange(3)}).outputs["y"]
    array([0, 1, 2])
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
        self._channel = self._config.sync_channel()
        self._stub = runtime_pb2_grpc.ModelRuntimeStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    @property
    def address(self) -> str:
        """The server address this client talks to."""
        return self._config.address

    def _deadline(self, timeout: float | None) -> float | None:
        return self._timeout if timeout is None else timeout

    def _unary(self, method: Callable[..., Any], request: Any, timeout: float | None) -> Any:
        try:
            return method(request, timeout=self._deadline(timeout))
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self.address) from None

    def predict(
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

        >>> client.predict("echo", {"x": np.ones(3, np.float32)}, parameters={"t": 0.5})
        """
        request = predict_request(model, inputs, version, parameters, request_id, self._typed)
        return prediction_from_proto(self._unary(self._stub.Predict, request, timeout))

    def generate(
        self,
        model: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        version: str = "",
        parameters: Mapping[str, Any] | None = None,
        request_id: str = "",
        timeout: float | None = None,
    ) -> ItemStream:
        """Call Generate: items are yielded as the model produces them (tokens).

        >>> for item in client.generate("llm", {"prompt": "Hello"}):
        ...     print(item.structured["token"], end="")
        """
        request = generate_request(model, inputs, version, parameters, request_id, self._typed)
        call = self._stub.Generate(request, timeout=self._deadline(timeout))
        return ItemStream(call, self.address)

    def stream(
        self,
        model: str,
        requests: Iterable[Mapping[str, Any]],
        *,
        version: str = "",
        parameters: Mapping[str, Any] | None = None,
        request_id: str = "",
        timeout: float | None = None,
    ) -> ItemStream:
        """Call Stream: each element of ``requests`` (a dict of inputs) is sent as it is produced.

        The iterable is read on another thread, so it may wait for response k before it yields
        request k+1.

        >>> for item in client.stream("asr", ({"audio": chunk} for chunk in chunks)):
        ...     print(item.structured)
        """
        struct = dict_to_struct(parameters)

        def build(inputs: Inputs, first: bool) -> runtime_pb2.StreamRequest:
            return stream_request(
                inputs,
                struct,
                first=first,
                model=model,
                version=version,
                request_id=request_id,
                typed=self._typed,
            )

        feed = _RequestFeed(requests, build)
        call = self._stub.Stream(iter(feed), timeout=self._deadline(timeout))
        feed.attach(call)
        return ItemStream(call, self.address, feed)

    def list_models(self, name: str = "", *, timeout: float | None = None) -> list[ModelInfo]:
        """Every model version the server knows (only those of ``name`` when given).

        >>> [(m.name, m.version, m.state) for m in client.list_models()]
        [('echo', '1', 'READY')]
        """
        request = runtime_pb2.ListModelsRequest(name=name)
        response = self._unary(self._stub.ListModels, request, timeout)
        return [model_info_from_proto(model) for model in response.models]

    def get_model(self, name: str, version: str = "", *, timeout: float | None = None) -> ModelInfo:
        """Describe one model version (the newest when ``version`` is empty).

        >>> client.get_model("echo").capabilities
        ('predict',)
        """
        request = runtime_pb2.GetModelRequest(name=name, version=version)
        return model_info_from_proto(self._unary(self._stub.GetModel, request, timeout).model)

    def load_model(
        self, name: str, version: str = "", *, timeout: float | None = None
    ) -> ModelInfo:
        """Load (or reload) a model version; the result is READY or FAILED with a reason.

        >>> client.load_model("echo").state
        'READY'
        """
        request = runtime_pb2.LoadModelRequest(name=name, version=version)
        return model_info_from_proto(self._unary(self._stub.LoadModel, request, timeout).model)

    def unload_model(
        self, name: str, version: str = "", *, timeout: float | None = None
    ) -> list[ModelInfo]:
        """Stop serving a model version (every loaded version when ``version`` is empty).

        >>> [m.state for m in client.unload_model("echo")]
        ['UNLOADED']
        """
        request = runtime_pb2.UnloadModelRequest(name=name, version=version)
        response = self._unary(self._stub.UnloadModel, request, timeout)
        return [model_info_from_proto(model) for model in response.models]

    def delete_model(
        self, name: str, version: str = "", *, timeout: float | None = None
    ) -> list[str]:
        """Unload a model version and remove it from the store; returns the deleted versions.

        >>> client.delete_model("echo")
        ['1']
        """
        request = runtime_pb2.DeleteModelRequest(name=name, version=version)
        return list(self._unary(self._stub.DeleteModel, request, timeout).versions)

    def upload(
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

        >>> client.upload("examples/sentiment", model_type="classification").model.state
        'READY'
        """
        check_upload_names(namespace, version)
        if phase is not None:
            phase("pack")
        with bundle_archive(Path(path)) as archive:
            size, digest = measure(archive)
            header = upload_header(
                size, digest, namespace=namespace, version=version,
                bundle_format=bundle_format, model_type=model_type, framework=framework,
                description=description, labels=labels, skip_load=skip_load,
            )  # fmt: skip
            messages = upload_messages(archive, header, chunk_bytes, progress, phase)
            try:
                reply = self._stub.Upload(messages, timeout=self._deadline(timeout))
            except grpc.RpcError as exc:
                raise from_rpc_error(exc, self.address) from None
        return UploadResult(model_info_from_proto(reply.model), reply.sha256)

    def health(self, service: str = "", *, timeout: float | None = None) -> str:
        """The standard health status of ``service``: "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN".

        ``""`` is the whole server (ready), ``"liveness"`` the process, a model name that model.

        >>> client.health()
        'SERVING'
        """
        request = health_pb2.HealthCheckRequest(service=service)
        try:
            response = self._health.Check(request, timeout=self._deadline(timeout))
        except grpc.RpcError as exc:
            if exc.code() is grpc.StatusCode.NOT_FOUND:
                return "SERVICE_UNKNOWN"
            raise from_rpc_error(exc, self.address) from None
        name: str = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
        return name

    def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
