"""The options of the gRPC servers: the main process's and, with --frontends N, each helper's."""

from __future__ import annotations

from runtime.settings import ServerSettings


def server_options(settings: ServerSettings, share_port: bool) -> list[tuple[str, int]]:
    """Message size limits, a bounded receive window, and whether the port is shared.

    ``share_port``: with several front ends each process binds the port with SO_REUSEPORT and
    the kernel spreads connections over them; alone, a second server must fail to bind instead.

    >>> ("grpc.so_reuseport", 0) in server_options(ServerSettings(), share_port=False)
    True
    """
    return [
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        # gRPC sets SO_REUSEPORT by default: a second server would silently share the port.
        ("grpc.so_reuseport", 1 if share_port else 0),
        # A fixed receive window per call instead of gRPC's growing one (BDP probing): what a
        # client can push ahead of the servicer stays bounded, e.g. during a big Upload.
        ("grpc.http2.bdp_probe", 0),
        ("grpc.http2.lookahead_bytes", settings.stream_window_bytes),
    ]
