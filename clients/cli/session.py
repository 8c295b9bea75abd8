"""The CLI's session: the global options, and the client made from them on first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click

from clients.cli.group import CommandError
from clients.sync_client import Client


@dataclass
class Session:
    """The global options and the client built from them on first use.

    >>> Session("127.0.0.1:50051", timeout=5.0, json_output=False).client().address
    '127.0.0.1:50051'
    """

    address: str
    timeout: float | None
    json_output: bool
    token: str | None = field(default=None, repr=False)
    tls: bool = False
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    typed_tensors: bool = False
    _client: Client | None = field(default=None, repr=False)

    def client(self) -> Client:
        """The client for --address (with the token and TLS options), made on first use."""
        if self._client is None:
            if (self.tls_cert is None) != (self.tls_key is None):
                raise CommandError("--tls-cert and --tls-key go together (mutual TLS)")
            try:
                self._client = Client(
                    self.address,
                    timeout=self.timeout,
                    secure=self.tls,
                    token=self.token,
                    root_certificates=_read_pem(self.tls_ca, "--tls-ca"),
                    certificate_chain=_read_pem(self.tls_cert, "--tls-cert"),
                    private_key=_read_pem(self.tls_key, "--tls-key"),
                    typed_tensors=self.typed_tensors,
                )
            except ValueError as exc:  # a token gRPC cannot send
                raise CommandError(f"--token: {exc}") from None
        return self._client

    def close(self) -> None:
        """Close the client if one was made."""
        if self._client is not None:
            self._client.close()


def _read_pem(path: Path | None, option: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {option} file {path}: {exc.strerror or exc}") from None


pass_session = click.make_pass_decorator(Session)


def json_requested() -> bool:
    """Whether the running command was given the global ``--json`` (for commands that need no
    session, such as ``init``); False outside a command.

    >>> json_requested()
    False
    """
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.find_root().params.get("json_output"))
