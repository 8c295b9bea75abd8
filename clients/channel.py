"""Channel settings shared by both clients: message size limits, TLS and the bearer token."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc

from clients.bearer import BearerTokenInterceptor, async_bearer_interceptors

#: Default cap on one message in either direction (tensors and images can be large).
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class ChannelConfig:
    """Where and how to connect; builds the options, credentials and interceptors of a channel.

    TLS is on when ``secure`` is set or any PEM bytes are given: ``root_certificates`` (the CA
    to trust; default: the system roots), ``certificate_chain`` and ``private_key`` (the client
    certificate for mutual TLS; both or neither). ``token`` is sent as
    ``authorization: Bearer <token>`` on every call.

    >>> ChannelConfig("127.0.0.1:50051").credentials() is None
    True
    >>> ChannelConfig("localhost:443", root_certificates=b"-----BEGIN ...").tls
    True
    """

    address: str
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    secure: bool = False
    channel_credentials: grpc.ChannelCredentials | None = None
    token: str | None = field(default=None, repr=False)
    root_certificates: bytes | None = None
    certificate_chain: bytes | None = None
    private_key: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if (self.certificate_chain is None) != (self.private_key is None):
            raise ValueError("certificate_chain and private_key go together (mutual TLS)")
        pem = (self.root_certificates, self.certificate_chain, self.private_key)
        if self.channel_credentials is not None and any(part is not None for part in pem):
            raise ValueError(
                "pass either credentials or root_certificates/certificate_chain/private_key"
            )
        if self.token is not None and (
            not self.token or any(not "!" <= char <= "~" for char in self.token)
        ):
            raise ValueError("the token must be non-empty printable ASCII without spaces")

    @property
    def tls(self) -> bool:
        """Whether the channel uses TLS."""
        pem = (self.root_certificates, self.private_key)
        return self.secure or self.channel_credentials is not None or pem != (None, None)

    def options(self) -> list[tuple[str, Any]]:
        """gRPC channel options: message size limits both ways."""
        return [
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.max_receive_message_length", self.max_message_bytes),
        ]

    def credentials(self) -> grpc.ChannelCredentials | None:
        """TLS credentials when the channel is secure (system roots by default), else None."""
        if self.channel_credentials is not None:
            return self.channel_credentials
        if self.tls:
            return grpc.ssl_channel_credentials(
                root_certificates=self.root_certificates,
                private_key=self.private_key,
                certificate_chain=self.certificate_chain,
            )
        return None

    def sync_channel(self) -> grpc.Channel:
        """A blocking channel; it connects on the first call, not here."""
        credentials = self.credentials()
        if credentials is None:
            channel = grpc.insecure_channel(self.address, options=self.options())
        else:
            channel = grpc.secure_channel(self.address, credentials, options=self.options())
        if self.token is None:
            return channel
        return grpc.intercept_channel(channel, BearerTokenInterceptor(self.token))

    def aio_channel(self) -> grpc.aio.Channel:
        """An asyncio channel bound to the running event loop; it connects on the first call."""
        credentials = self.credentials()
        interceptors = None if self.token is None else async_bearer_interceptors(self.token)
        if credentials is None:
            return grpc.aio.insecure_channel(
                self.address, options=self.options(), interceptors=interceptors
            )
        return grpc.aio.secure_channel(
            self.address, credentials, options=self.options(), interceptors=interceptors
        )
