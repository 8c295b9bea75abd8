"""TLS and mutual TLS against a real server, with a CA and certificates issued at test time."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from clients import AsyncClient, Client, ModelrtClientError, UnavailableError
from clients.cli.commands import cli
from runtime.api.tls import TLSFileError
from tests.bundle_factory import write_bundle
from tests.integration.test_client import ECHO
from tests.tls_factory import CertificateAuthority, Issued

pytestmark = pytest.mark.timeout(120)

MODELRT = Path(sys.executable).parent / "modelrt"


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority(tmp_path / "pki")


@pytest.fixture
def server_cert(ca: CertificateAuthority) -> Issued:
    return ca.issue_server()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    write_bundle(tmp_path / "store", "echo", ECHO)
    return tmp_path / "store"


def _wait_ready(client: Client, timeout: float = 30.0) -> None:
    """Poll health over the client's own (TLS) channel; the fixture's probe is plaintext."""
    deadline = time.monotonic() + timeout
    while client.health() != "SERVING":
        assert time.monotonic() < deadline, "server not ready"
        time.sleep(0.05)


@pytest.fixture
def tls_server(start_server, store: Path, server_cert: Issued):
    return start_server(
        store,
        wait=False,
        tls_cert_file=server_cert.cert_file,
        tls_key_file=server_cert.key_file,
        execution="inprocess",
    )


@pytest.fixture
def mtls_server(start_server, store: Path, ca: CertificateAuthority, server_cert: Issued):
    return start_server(
        store,
        wait=False,
        tls_cert_file=server_cert.cert_file,
        tls_key_file=server_cert.key_file,
        tls_client_ca_file=ca.issued.cert_file,
        execution="inprocess",
    )


# --- TLS ---------------------------------------------------------------------------------------


def test_client_trusting_the_ca_talks_to_a_tls_server(tls_server, ca) -> None:
    with Client(tls_server.address, timeout=10, root_certificates=ca.issued.cert) as client:
        _wait_ready(client)
        assert client.predict("echo", {"text": "hi"}).structured["text"] == "hi"
    port = tls_server.address.rsplit(":", 1)[1]
    with Client(f"localhost:{port}", timeout=10, root_certificates=ca.issued.cert) as client:
        assert client.get_model("echo").state == "READY"


def test_plaintext_client_fails_with_unavailable_against_a_tls_server(tls_server, ca) -> None:
    with Client(tls_server.address, timeout=10, root_certificates=ca.issued.cert) as client:
        _wait_ready(client)
    plaintext = Client(tls_server.address, timeout=5)
    with plaintext, pytest.raises(UnavailableError):
        plaintext.predict("echo", {"text": "hi"})


def test_client_trusting_another_ca_is_refused(tls_server, ca, tmp_path) -> None:
    with Client(tls_server.address, timeout=10, root_certificates=ca.issued.cert) as client:
        _wait_ready(client)
    stranger = CertificateAuthority(tmp_path / "other", "some other CA")
    client = Client(tls_server.address, timeout=5, root_certificates=stranger.issued.cert)
    with client, pytest.raises(UnavailableError):
        client.list_models()


def test_async_client_talks_to_a_tls_server(tls_server, ca) -> None:
    with Client(tls_server.address, timeout=10, root_certificates=ca.issued.cert) as client:
        _wait_ready(client)

    async def scenario() -> str:
        async with AsyncClient(
            tls_server.address, timeout=10, root_certificates=ca.issued.cert
        ) as client:
            return (await client.predict("echo", {"text": "hi"})).structured["text"]

    assert asyncio.run(scenario()) == "hi"


# --- mutual TLS --------------------------------------------------------------------------------


def test_mutual_tls_refuses_a_client_without_a_certificate(mtls_server, ca) -> None:
    client_cert = ca.issue_client()
    with Client(
        mtls_server.address,
        timeout=10,
        root_certificates=ca.issued.cert,
        certificate_chain=client_cert.cert,
        private_key=client_cert.key,
    ) as client:
        _wait_ready(client)
        assert client.predict("echo", {"text": "hi"}).structured["text"] == "hi"
    anonymous = Client(mtls_server.address, timeout=5, root_certificates=ca.issued.cert)
    with anonymous, pytest.raises(UnavailableError):
        anonymous.list_models()


def test_mutual_tls_refuses_a_certificate_from_another_ca(mtls_server, ca, tmp_path) -> None:
    stranger = CertificateAuthority(tmp_path / "other", "some other CA").issue_client("intruder")
    client = Client(
        mtls_server.address,
        timeout=5,
        root_certificates=ca.issued.cert,
        certificate_chain=stranger.cert,
        private_key=stranger.key,
    )
    with client, pytest.raises(UnavailableError):
        client.list_models()


def test_async_client_presents_its_certificate(mtls_server, ca) -> None:
    client_cert = ca.issue_client()

    async def scenario() -> str:
        async with AsyncClient(
            mtls_server.address,
            timeout=10,
            root_certificates=ca.issued.cert,
            certificate_chain=client_cert.cert,
            private_key=client_cert.key,
        ) as client:
            deadline = time.monotonic() + 30
            while await client.health() != "SERVING":
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            return (await client.get_model("echo")).state

    assert asyncio.run(scenario()) == "READY"


# --- the CLI and the serve command -------------------------------------------------------------


def test_cli_works_over_tls_and_mutual_tls(mtls_server, ca) -> None:
    client_cert = ca.issue_client()
    runner = CliRunner()
    base = ["--address", mtls_server.address, "--tls-ca", str(ca.issued.cert_file)]
    env = {
        "MODELRT_TLS_CERT": str(client_cert.cert_file),
        "MODELRT_TLS_KEY": str(client_cert.key_file),
    }
    deadline = time.monotonic() + 30
    while (health := runner.invoke(cli, [*base, "health"], env=env)).stdout.strip() != "SERVING":
        assert time.monotonic() < deadline, health.output
        time.sleep(0.1)
    result = runner.invoke(cli, [*base, "predict", "echo", "-i", "text=hi"], env=env)
    assert result.exit_code == 0, result.output
    assert "hi" in result.stdout

    flags = ["--tls-cert", str(client_cert.cert_file), "--tls-key", str(client_cert.key_file)]
    result = runner.invoke(cli, [*base, *flags, "models"])
    assert result.exit_code == 0, result.output
    assert "echo" in result.stdout

    refused = runner.invoke(cli, [*base, "models"], env={"MODELRT_TLS_CERT": None})
    assert refused.exit_code == 1
    assert "error: UNAVAILABLE" in refused.stderr


def test_cli_refuses_a_client_certificate_without_its_key(ca) -> None:
    client_cert = ca.issue_client()
    result = CliRunner().invoke(
        cli, ["--tls-cert", str(client_cert.cert_file), "models"], env={"MODELRT_TLS_KEY": None}
    )
    assert result.exit_code == 1
    assert "error: --tls-cert and --tls-key go together" in result.stderr


def test_serve_command_serves_tls_from_its_flags(store, ca, server_cert, tmp_path) -> None:
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [str(MODELRT), "serve", "--model-store", str(store), "--host", "127.0.0.1",
         "--port", "0", "--port-file", str(port_file), "--no-metrics",
         "--tls-cert", str(server_cert.cert_file), "--tls-key", str(server_cert.key_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            assert process.poll() is None, process.communicate()[0].decode()
            assert time.monotonic() < deadline, "serve did not write its port"
            time.sleep(0.05)
        address = f"127.0.0.1:{port_file.read_text().strip()}"
        with Client(address, timeout=10, root_certificates=ca.issued.cert) as client:
            _wait_ready(client, timeout=60)
            assert client.get_model("echo").state == "READY"
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert "(TLS)" in output


def test_serve_command_names_an_unreadable_key_file(store, server_cert, tmp_path) -> None:
    missing = tmp_path / "missing.key"
    done = subprocess.run(
        [str(MODELRT), "serve", "--model-store", str(store), "--port", "0", "--no-metrics",
         "--tls-cert", str(server_cert.cert_file), "--tls-key", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert f"cannot read TLS key file {missing}" in done.stderr


def test_server_start_fails_clearly_when_a_tls_file_is_unreadable(
    start_server, store, server_cert, tmp_path
) -> None:
    missing = tmp_path / "nope.crt"
    with pytest.raises(TLSFileError, match=f"cannot read TLS client CA file {missing}"):
        start_server(
            store,
            tls_cert_file=server_cert.cert_file,
            tls_key_file=server_cert.key_file,
            tls_client_ca_file=missing,
        )


def test_a_key_that_does_not_match_the_certificate_is_a_clear_start_error(
    start_server, store, ca, server_cert
) -> None:
    other = ca.issue_server("other")
    with pytest.raises(RuntimeError, match="is tls_key_file the key of tls_cert_file"):
        start_server(store, tls_cert_file=server_cert.cert_file, tls_key_file=other.key_file)


def test_token_and_tls_together(start_server, store, ca, server_cert) -> None:
    server = start_server(
        store,
        wait=False,
        tls_cert_file=server_cert.cert_file,
        tls_key_file=server_cert.key_file,
        admin_token="admin-over-tls",
        execution="inprocess",
    )
    with Client(server.address, timeout=10, root_certificates=ca.issued.cert) as anonymous:
        _wait_ready(anonymous)
        with pytest.raises(ModelrtClientError, match="UNAUTHENTICATED"):
            anonymous.unload_model("echo")
    with Client(
        server.address, timeout=10, root_certificates=ca.issued.cert, token="admin-over-tls"
    ) as admin:
        assert [m.state for m in admin.unload_model("echo")] == ["UNLOADED"]
