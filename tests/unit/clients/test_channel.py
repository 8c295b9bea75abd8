"""Tests for clients.channel and clients.bearer: TLS options, token checks, the token header."""

from __future__ import annotations

import pytest

from clients.bearer import authorization_header
from clients.channel import ChannelConfig

pytestmark = pytest.mark.timeout(10)

PEM = b"-----BEGIN CERTIFICATE-----\n"


def test_plaintext_unless_secure_or_pem_bytes_are_given() -> None:
    assert not ChannelConfig("127.0.0.1:1").tls
    assert ChannelConfig("127.0.0.1:1").credentials() is None
    assert ChannelConfig("127.0.0.1:1", secure=True).tls
    assert ChannelConfig("127.0.0.1:1", root_certificates=PEM).tls
    assert ChannelConfig("127.0.0.1:1", certificate_chain=PEM, private_key=PEM).tls


def test_client_certificate_and_key_go_together() -> None:
    with pytest.raises(ValueError, match="certificate_chain and private_key go together"):
        ChannelConfig("127.0.0.1:1", certificate_chain=PEM)
    with pytest.raises(ValueError, match="certificate_chain and private_key go together"):
        ChannelConfig("127.0.0.1:1", private_key=PEM)


@pytest.mark.parametrize("token", ["", "two words", "caf\u00e9"])
def test_a_token_grpc_cannot_send_is_refused(token: str) -> None:
    with pytest.raises(ValueError, match="printable ASCII"):
        ChannelConfig("127.0.0.1:1", token=token)


def test_token_and_private_key_stay_out_of_the_repr() -> None:
    config = ChannelConfig(
        "127.0.0.1:1", token="s3cret", certificate_chain=PEM, private_key=b"KEY-BYTES"
    )
    assert "s3cret" not in repr(config)
    assert "KEY-BYTES" not in repr(config)


def test_the_token_travels_as_a_bearer_authorization_header() -> None:
    assert authorization_header("abc") == ("authorization", "Bearer abc")
