"""Tests for runtime.api.tls: server credentials from the settings' PEM files, clear file errors."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from runtime.api.tls import TLSFileError, read_pem, server_credentials
from runtime.settings import ServerSettings
from tests.tls_factory import CertificateAuthority

pytestmark = pytest.mark.timeout(30)


def test_no_tls_files_means_a_plaintext_server() -> None:
    assert server_credentials(ServerSettings()) is None


def test_credentials_are_built_from_readable_pem_files(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path)
    issued = ca.issue_server()
    settings = ServerSettings(
        tls_cert_file=issued.cert_file,
        tls_key_file=issued.key_file,
        tls_client_ca_file=ca.issued.cert_file,
    )
    assert isinstance(server_credentials(settings), grpc.ServerCredentials)


def test_a_missing_file_names_its_role_and_path(tmp_path: Path) -> None:
    issued = CertificateAuthority(tmp_path).issue_server()
    missing = tmp_path / "nope.key"
    settings = ServerSettings(tls_cert_file=issued.cert_file, tls_key_file=missing)
    with pytest.raises(TLSFileError, match=rf"cannot read TLS key file {missing}: No such file"):
        server_credentials(settings)


def test_a_file_without_pem_data_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cert.der"
    path.write_bytes(b"\x30\x82\x01\x0a")
    with pytest.raises(TLSFileError, match="is not a PEM file"):
        read_pem(path, "TLS certificate file")
