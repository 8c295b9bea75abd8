"""Access control: which RPCs need which bearer token, and the server interceptor enforcing it.

Health and reflection are never protected, so Kubernetes probes and grpcurl keep working.
"""

from __future__ import annotations

import enum
import functools
import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from registry.errors import ModelrtError
from runtime.api.status import grpc_status_of
from runtime.errors import AdminTokenRequiredError, AuthenticationError, ManagementDisabledError
from runtime.settings import ServerSettings

logger = logging.getLogger(__name__)

SERVICE = "modelrt.v1.ModelRuntime"
MANAGEMENT_RPCS = frozenset({"Upload", "LoadModel", "UnloadModel", "DeleteModel"})
INFERENCE_RPCS = frozenset({"Predict", "Generate", "Stream", "ListModels", "GetModel"})
#: The Open Inference Protocol: liveness and readiness are as open as grpc.health.v1; loading,
#: unloading and every RPC not listed here (shared memory, trace, log settings) is management.
OIP_SERVICE = "inference.GRPCInferenceService"
OIP_OPEN_RPCS = frozenset({"ServerLive", "ServerReady", "ModelReady", "ServerMetadata"})
OIP_MANAGEMENT_RPCS = frozenset({"RepositoryModelLoad", "RepositoryModelUnload"})
OIP_INFERENCE_RPCS = frozenset(
    {
        "ModelInfer",
        "ModelStreamInfer",
        "ModelMetadata",
        "ModelConfig",
        "ModelStatistics",
        "RepositoryIndex",
    }
)
AUTHORIZATION = "authorization"
_BEARER = "bearer "

Handler = Any  # grpc.RpcMethodHandler; grpc ships no type information


class Access(enum.Enum):
    """What an RPC needs: nothing, the inference token, or the admin token."""

    OPEN = "open"
    INFERENCE = "inference"
    MANAGEMENT = "management"


def access_of(method: str) -> Access:
    """The access class of a full method name such as ``/modelrt.v1.ModelRuntime/Predict``.

    A ModelRuntime or GRPCInferenceService RPC that is in no list counts as management, so a new
    RPC is protected until someone decides otherwise.

    >>> access_of("/modelrt.v1.ModelRuntime/LoadModel"), access_of("/grpc.health.v1.Health/Check")
    (<Access.MANAGEMENT: 'management'>, <Access.OPEN: 'open'>)
    """
    service, _, name = method.lstrip("/").partition("/")
    if service == OIP_SERVICE:
        if name in OIP_OPEN_RPCS:
            return Access.OPEN
        return Access.INFERENCE if name in OIP_INFERENCE_RPCS else Access.MANAGEMENT
    if service != SERVICE:
        return Access.OPEN
    return Access.INFERENCE if name in INFERENCE_RPCS else Access.MANAGEMENT


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` only accepts connections from this machine.

    127.0.0.0/8, ::1 and "localhost" are loopback; 0.0.0.0, ::, other names and addresses are not.

    >>> is_loopback("127.0.0.1"), is_loopback("[::1]"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    host = host.strip().removeprefix("[").removesuffix("]")
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _bearer_token(metadata: Sequence[tuple[str, str | bytes]] | None) -> str | None:
    for key, value in metadata or ():
        if key == AUTHORIZATION and isinstance(value, str):
            return value
    return None


@dataclass(frozen=True)
class AccessPolicy:
    """Decides, per call, whether its method and ``authorization`` metadata may pass.

    >>> policy = AccessPolicy(admin_token="s3cret", inference_token=None, host="127.0.0.1")
    >>> policy.check("/modelrt.v1.ModelRuntime/Predict", ()) is None
    True
    >>> policy.check("/modelrt.v1.ModelRuntime/LoadModel", ()).reason
    'MISSING_TOKEN'
    """

    admin_token: str | None
    inference_token: str | None
    host: str

    @classmethod
    def from_settings(cls, settings: ServerSettings, host: str | None = None) -> AccessPolicy:
        """The policy the settings ask for (tokens, bind address: ``host`` when given)."""
        admin, inference = settings.admin_token, settings.inference_token
        return cls(
            admin_token=None if admin is None else admin.get_secret_value(),
            inference_token=None if inference is None else inference.get_secret_value(),
            host=settings.host if host is None else host,
        )

    @functools.cached_property
    def loopback(self) -> bool:
        """Whether the bind address is a loopback one (worked out once)."""
        return is_loopback(self.host)

    @property
    def management_disabled(self) -> bool:
        """True when management RPCs are refused outright: no admin token, non-loopback bind."""
        return self.admin_token is None and not self.loopback

    @property
    def enforces(self) -> bool:
        """Whether any call can be refused; when not, no interceptor is installed at all."""
        return self.admin_token is not None or self.inference_token is not None or not self.loopback

    def check(
        self,
        method: str,
        metadata: Sequence[tuple[str, str | bytes]] | None,
        *,
        caller: str | None = None,
        carrier: str = "metadata",
    ) -> ModelrtError | None:
        """None when the call may go on, else the error to answer it with.

        ``caller`` names the call in messages (default: the RPC's name; the HTTP front door
        passes its method and path), ``carrier`` what carries the token (metadata, header).
        """
        access = access_of(method)
        if access is Access.OPEN:
            return None
        rpc = caller or method.rsplit("/", 1)[-1]
        if access is Access.MANAGEMENT:
            if self.admin_token is None:
                if self.loopback:
                    return None
                calls = "RPCs" if caller is None else "calls"
                return ManagementDisabledError(
                    f"management {calls} are disabled on non-loopback bind {self.host} without "
                    "an admin token; set MODELRT_ADMIN_TOKEN",
                    metadata={"method": rpc},
                )
            header = _bearer_token(metadata)
            error = _token_error(header, (self.admin_token,), "the admin token", rpc, carrier)
            if error is not None and error.reason == "INVALID_TOKEN" and self._is_inference(header):
                # The caller is known (not UNAUTHENTICATED), it may only not manage.
                return AdminTokenRequiredError(
                    f"{rpc} manages models: it needs the admin token, and the {carrier} "
                    "carries the inference token",
                    metadata={"method": rpc},
                )
            return error
        if self.inference_token is None:
            return None
        accepted: tuple[str, ...] = (self.inference_token,)
        needed = "the inference token"
        if self.admin_token is not None:
            accepted += (self.admin_token,)
            needed = "the inference or admin token"
        return _token_error(_bearer_token(metadata), accepted, needed, rpc, carrier)

    def _is_inference(self, header: str | None) -> bool:
        """Whether ``header`` carries the inference token (compared in constant time)."""
        sent = _bearer_value(header)
        token = self.inference_token
        return sent is not None and token is not None and hmac.compare_digest(sent, token.encode())


def _bearer_value(header: str | None) -> bytes | None:
    """The token of an ``authorization: Bearer <token>`` value; None if absent or malformed."""
    if header is None or header[: len(_BEARER)].lower() != _BEARER:
        return None
    return header[len(_BEARER) :].strip().encode()


def _token_error(
    header: str | None, accepted: tuple[str, ...], needed: str, rpc: str, carrier: str
) -> AuthenticationError | None:
    if header is None:
        return AuthenticationError(
            f"{rpc} needs {needed}: send {carrier} 'authorization: Bearer <token>'",
            reason="MISSING_TOKEN",
            metadata={"method": rpc},
        )
    sent = _bearer_value(header)
    if sent is None:
        return AuthenticationError(
            f"{rpc}: the authorization {carrier} is not of the form 'Bearer <token>'",
            reason="MALFORMED_TOKEN",
            metadata={"method": rpc},
        )
    # Compare with every accepted token, without stopping early, in constant time each.
    matches = [hmac.compare_digest(sent, token.encode()) for token in accepted]
    if any(matches):
        return None
    return AuthenticationError(
        f"{rpc}: the bearer token is not valid for this server ({needed} is needed)",
        reason="INVALID_TOKEN",
        metadata={"method": rpc},
    )


_HANDLER_KINDS: dict[tuple[bool, bool], Callable[..., Handler]] = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def rejecting_handler(handler: Handler, error: ModelrtError) -> Handler:
    """A handler of the same kind (unary/streaming each way) as ``handler`` that only aborts.

    It never reads the request stream, so a refused Upload is not received.
    """
    status = grpc_status_of(error)

    async def reject(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort_with_status(status)

    make = _HANDLER_KINDS[(handler.request_streaming, handler.response_streaming)]
    return make(
        reject,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Answers the calls that ``policy`` refuses before they reach any servicer.

    >>> policy = AccessPolicy(admin_token="s3cret", inference_token=None, host="0.0.0.0")
    >>> server = grpc.aio.server(interceptors=[AuthInterceptor(policy)])  # doctest: +SKIP
    """

    def __init__(self, policy: AccessPolicy) -> None:
        self._policy = policy

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        """The method's own handler, or one that aborts with the refusal."""
        method: str = handler_call_details.method
        error = self._policy.check(method, handler_call_details.invocation_metadata)
        handler = await continuation(handler_call_details)
        if error is None or handler is None:
            return handler
        logger.debug("refused %s: %s", method, error.reason)
        return rejecting_handler(handler, error)


def log_access_policy(policy: AccessPolicy) -> None:
    """Say at start-up what is protected; warn when management RPCs are disabled."""
    if policy.management_disabled:
        logger.warning(
            "management RPCs (%s) are disabled: bound to non-loopback %s without an admin "
            "token; set MODELRT_ADMIN_TOKEN to enable them",
            ", ".join(sorted(MANAGEMENT_RPCS | OIP_MANAGEMENT_RPCS)),
            policy.host,
        )
    elif policy.admin_token is None:
        logger.info("management RPCs open to local callers (loopback bind, no admin token)")
    else:
        logger.info("management RPCs require the admin token")
    if policy.inference_token is not None:
        logger.info("inference RPCs require the inference (or admin) token")
