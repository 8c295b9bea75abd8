"""Tests for runtime.settings: CLI flags > MODELRT_* env > YAML file > defaults."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from runtime.settings import ServerSettings, load_settings

pytestmark = pytest.mark.timeout(10)

MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No MODELRT_* variable of the machine running the tests leaks into them."""
    for name in list(os.environ):
        if name.upper().startswith("MODELRT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write_yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings({})
    assert settings == ServerSettings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 50051
    assert settings.max_message_bytes == 256 * MiB
    assert settings.model_store == tmp_path / "model-store"
    assert settings.strict_requirements is False
    assert settings.log_level == "INFO"


def test_unpack_dir_defaults_inside_the_store_unless_work_dir_is_set(tmp_path: Path) -> None:
    assert load_settings({"model_store": tmp_path}).unpack_dir == tmp_path / ".modelrt" / "unpacked"
    assert load_settings({"model_store": tmp_path, "work_dir": tmp_path / "w"}).unpack_dir == (
        tmp_path / "w"
    )


def test_relative_store_work_and_venv_dirs_are_made_absolute_against_the_start_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELRT_VENV_DIR", "cache/../venvs")
    settings = load_settings({"model_store": Path("store"), "work_dir": Path("./unpacked")})

    assert settings.model_store == tmp_path / "store"
    assert settings.unpack_dir == tmp_path / "unpacked"
    assert settings.venv_path == tmp_path / "venvs"
    monkeypatch.delenv("MODELRT_VENV_DIR")
    assert load_settings({"model_store": "store"}).venv_path == tmp_path / "store/.modelrt/venvs"


def test_cli_overrides_apply_and_none_means_not_given() -> None:
    settings = load_settings({"port": 0, "host": None, "strict_requirements": True})
    assert settings.port == 0
    assert settings.host == "127.0.0.1"
    assert settings.strict_requirements is True


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELRT_PORT", "6000")
    monkeypatch.setenv("MODELRT_STRICT_REQUIREMENTS", "true")
    settings = load_settings({})
    assert settings.port == 6000
    assert settings.strict_requirements is True


def test_cli_overrides_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELRT_PORT", "6000")
    assert load_settings({"port": 7000}).port == 7000


def test_yaml_file_values_apply(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path,
        "host: 0.0.0.0\nport: 8000\nmax_sync_workers: 3\nmodel_store: /srv/models\n",
    )
    settings = load_settings({}, path)
    assert settings.host == "0.0.0.0"
    assert settings.port == 8000
    assert settings.max_sync_workers == 3
    assert settings.model_store == Path("/srv/models")
    assert settings.max_message_bytes == 256 * MiB
    assert isinstance(settings, ServerSettings)


def test_environment_overrides_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELRT_PORT", "6000")
    path = write_yaml(tmp_path, "port: 8000\nhost: 0.0.0.0\n")
    settings = load_settings({}, path)
    assert settings.port == 6000
    assert settings.host == "0.0.0.0"


def test_cli_overrides_environment_and_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELRT_PORT", "6000")
    path = write_yaml(tmp_path, "port: 8000\n")
    assert load_settings({"port": 9000}, path).port == 9000


def test_empty_yaml_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_settings({}, write_yaml(tmp_path, "")) == ServerSettings()


def test_unknown_key_in_yaml_is_rejected_naming_it(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "prot: 8000\n")
    with pytest.raises(ValidationError, match="prot"):
        load_settings({}, path)


def test_invalid_value_in_yaml_is_rejected_naming_it(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "port: 70000\n")
    with pytest.raises(ValidationError, match="port"):
        load_settings({}, path)


def test_invalid_value_in_environment_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELRT_MAX_MESSAGE_BYTES", "12")
    with pytest.raises(ValidationError, match="max_message_bytes"):
        load_settings({})


def test_unknown_cli_override_is_rejected() -> None:
    with pytest.raises(ValidationError, match="colour"):
        load_settings({"colour": "red"})


def test_missing_config_file_is_file_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
        load_settings({}, missing)


@pytest.mark.parametrize("text", ["- 1\n- 2\n", "port: [1\n"])
def test_malformed_yaml_file_is_a_value_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(ValueError, match=r"settings\.yaml"):
        load_settings({}, write_yaml(tmp_path, text))


def test_settings_are_frozen() -> None:
    settings = load_settings({})
    with pytest.raises(ValidationError):
        settings.port = 1  # type: ignore[misc]


def test_tokens_come_from_the_environment_and_stay_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELRT_ADMIN_TOKEN", "admin-s3cret")
    monkeypatch.setenv("MODELRT_INFERENCE_TOKEN", "infer-s3cret")
    settings = load_settings({})
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == "admin-s3cret"
    assert settings.inference_token is not None
    assert settings.inference_token.get_secret_value() == "infer-s3cret"
    assert "s3cret" not in repr(settings)


def test_tokens_are_read_from_the_yaml_file(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "admin_token: from-file\n")
    settings = load_settings({}, path)
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == "from-file"


@pytest.mark.parametrize("token", ["", "has space", "tab\there", "caf\u00e9"])
def test_a_token_grpc_cannot_send_is_rejected_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    monkeypatch.setenv("MODELRT_ADMIN_TOKEN", token)
    with pytest.raises(ValidationError, match="printable ASCII") as caught:
        load_settings({})
    if token:
        assert token not in str(caught.value)


def test_tls_certificate_without_key_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="tls_cert_file is set but tls_key_file is not"):
        load_settings({"tls_cert_file": tmp_path / "server.crt"})
    with pytest.raises(ValidationError, match="tls_key_file is set but tls_cert_file is not"):
        load_settings({"tls_key_file": tmp_path / "server.key"})


def test_tls_client_ca_needs_a_server_certificate(tmp_path: Path) -> None:
    needs = r"tls_client_ca_file \(mutual TLS\) needs tls_cert_file"
    with pytest.raises(ValidationError, match=needs):
        load_settings({"tls_client_ca_file": tmp_path / "ca.crt"})


def test_tls_is_on_with_a_certificate_and_key(tmp_path: Path) -> None:
    assert not load_settings({}).tls
    settings = load_settings(
        {"tls_cert_file": tmp_path / "s.crt", "tls_key_file": tmp_path / "s.key"}
    )
    assert settings.tls


def test_validation_errors_never_repeat_a_configured_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MODELRT_ADMIN_TOKEN", "admin-s3cret")
    with pytest.raises(ValidationError) as caught:
        load_settings({"tls_cert_file": tmp_path / "server.crt"})
    assert "tls_key_file" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_store_url_and_s3_endpoint_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELRT_STORE_URL", "s3://models/prod")
    monkeypatch.setenv("MODELRT_S3_ENDPOINT_URL", "http://127.0.0.1:9000")

    settings = load_settings({})

    assert settings.store_url == "s3://models/prod"
    assert settings.s3_endpoint_url == "http://127.0.0.1:9000"


@pytest.mark.parametrize("url", ["models/prod", "s3://", "s3://Models/x", "file:///tmp/store"])
def test_a_malformed_store_url_is_rejected_saying_what_is_expected(url: str) -> None:
    with pytest.raises(ValidationError, match=r"store_url.*s3://BUCKET\[/PREFIX\]"):
        load_settings({"store_url": url})


@pytest.mark.parametrize("endpoint", ["127.0.0.1:9000", "ftp://host", "http://"])
def test_an_s3_endpoint_that_is_not_an_http_url_is_rejected(endpoint: str) -> None:
    with pytest.raises(ValidationError, match="s3_endpoint_url must be an http"):
        load_settings({"store_url": "s3://models", "s3_endpoint_url": endpoint})


def test_an_s3_endpoint_without_a_store_url_is_rejected() -> None:
    with pytest.raises(ValidationError, match="s3_endpoint_url is set but store_url is not"):
        load_settings({"s3_endpoint_url": "http://127.0.0.1:9000"})
