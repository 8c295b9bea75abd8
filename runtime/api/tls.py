"""Server TLS: reads the certificate, key and client CA files into gRPC server credentials."""

from __future__ import annotations

from pathlib import Path

import grpc

from runtime.settings import ServerSettings


class TLSFileError(RuntimeError):
    """A TLS file in the settings cannot be read or holds no PEM data."""


def read_pem(path: Path, what: str) -> bytes:
    """The bytes of a PEM file, or a TLSFileError naming ``what`` and the path.

    >>> read_pem(Path("server.crt"), "TLS certificate")  # doctest: +SKIP
    b'-----BEGIN CERTIFICATE-----...'
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TLSFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if b"-----BEGIN " not in data:
        raise TLSFileError(f"{what} {path} is not a PEM file (no '-----BEGIN' line)")
    return data


def server_credentials(settings: ServerSettings) -> grpc.ServerCredentials | None:
    """TLS credentials for the settings' files (client certificates required when a client CA
    is set), or None for a plaintext server.

    >>> server_credentials(ServerSettings()) is None
    True
    """
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    chain = read_pem(settings.tls_cert_file, "TLS certificate file")
    key = read_pem(settings.tls_key_file, "TLS key file")
    client_ca = None
    if settings.tls_client_ca_file is not None:
        client_ca = read_pem(settings.tls_client_ca_file, "TLS client CA file")
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )
