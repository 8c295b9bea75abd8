"""Channel settings shared by both clients: message size limits and transport credentials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc

#: Default cap on one message in either direction (tensors and images can be large).
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class ChannelConfig:
    """Where and how to connect; builds the options and credentials of a gRPC channel.

    >>> ChannelConfig("127.0.0.1:50051").credentials() is None
    True
    """

    address: str
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    secure: bool = False
    channel_credentials: grpc.ChannelCredentials | None = None

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
        if self.secure:
            return grpc.ssl_channel_credentials()
        return None

    def sync_channel(self) -> grpc.Channel:
        """A blocking channel; it connects on the first call, not here."""
        credentials = self.credentials()
        if credentials is None:
            return grpc.insecure_channel(self.address, options=self.options())
        return grpc.secure_channel(self.address, credentials, options=self.options())

    def aio_channel(self) -> grpc.aio.Channel:
        """An asyncio channel bound to the running event loop; it connects on the first call."""
        credentials = self.credentials()
        if credentials is None:
            return grpc.aio.insecure_channel(self.address, options=self.options())
        return grpc.aio.secure_channel(self.address, credentials, options=self.options())
