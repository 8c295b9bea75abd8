"""runtime.serve_flags: every ServerSettings field is a `serve` flag with help, derived."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import click
import pytest
from pydantic import Field
from pydantic_settings import BaseSettings

from runtime.cli import serve
from runtime.serve_flags import flag_name, is_secret, with_settings_options
from runtime.settings import ServerSettings, load_settings

pytestmark = pytest.mark.timeout(10)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("MODELRT_"):
            monkeypatch.delenv(name)


def _options() -> dict[str, click.Option]:
    return {param.name: param for param in serve.params if isinstance(param, click.Option)}


def _parse(*args: str) -> dict[str, Any]:
    """The keyword arguments `serve` would get for ``args`` (nothing runs)."""
    with serve.make_context("serve", list(args)) as ctx:
        return dict(ctx.params)


def _settings(*args: str) -> ServerSettings:
    params = _parse(*args)
    for name in ("config_file", "port_file", "no_metrics"):
        params.pop(name)
    return load_settings(params)


@pytest.mark.parametrize(
    "field", [name for name, info in ServerSettings.model_fields.items() if not is_secret(info)]
)
def test_every_setting_has_a_flag_of_its_name_with_help_and_default(field: str) -> None:
    option = _options()[field]
    assert flag_name(field) in option.opts
    help_text = option.help or ""
    description = ServerSettings.model_fields[field].description or ""
    assert description.strip(), f"{field} has no description to use as help"
    assert help_text.startswith(description.strip())
    assert "[default: " in help_text


def test_secrets_are_never_flags() -> None:
    flags = {opt for option in _options().values() for opt in option.opts}
    assert "--admin-token" not in flags
    assert "--inference-token" not in flags
    assert "admin_token" not in _options()


def test_settings_that_had_no_flag_now_have_one() -> None:
    settings = _settings(
        "--metrics-host", "0.0.0.0", "--max-restarts", "2", "--restart-window-s", "5",
        "--max-bundle-files", "7", "--max-bundle-bytes", "1000", "--max-compression-ratio", "9",
        "--max-upload-bytes", "77", "--work-dir", "w", "--venv-dir", "v",
    )  # fmt: skip
    assert settings.metrics_host == "0.0.0.0"
    assert (settings.max_restarts, settings.restart_window_s) == (2, 5.0)
    assert (settings.max_bundle_files, settings.max_bundle_bytes) == (7, 1000)
    assert (settings.max_compression_ratio, settings.max_upload_bytes) == (9, 77)
    # Paths are made absolute once, when the settings are built.
    assert (settings.work_dir, settings.venv_dir) == (Path("w").resolve(), Path("v").resolve())


def test_older_flag_names_still_work_as_aliases() -> None:
    settings = _settings(
        "--store-sync-interval", "3", "--grace-period", "4", "--hang-timeout", "5",
        "--lenient-requirements", "--create-store",
    )  # fmt: skip
    assert settings.store_sync_interval_s == 3.0
    assert settings.grace_period_s == 4.0
    assert settings.hang_timeout_s == 5.0
    assert settings.strict_requirements is False
    assert settings.create_model_store is True
    assert _settings("--strict-requirements").strict_requirements is True
    params = _parse("--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-client-ca", "ca.pem")
    assert params["tls_cert_file"] == Path("c.pem")
    assert params["tls_client_ca_file"] == Path("ca.pem")


def test_flags_not_given_leave_env_and_defaults_in_charge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELRT_MAX_RESTARTS", "9")
    params = _parse()
    assert {name for name, value in params.items() if value not in (None, False)} == set()
    assert _settings().max_restarts == 9
    assert _settings("--max-restarts", "1").max_restarts == 1


def test_a_value_of_the_wrong_type_is_a_usage_error() -> None:
    with pytest.raises(click.BadParameter, match="not a valid integer"):
        _parse("--max-restarts", "many")
    with pytest.raises(click.BadParameter):
        _parse("--execution", "threads")


class _NewFields(BaseSettings):
    """Fields of the kinds other settings may add: optional numbers, choices, lists."""

    memory_limit_mb: int | None = Field(default=None, description="Memory per worker.")
    load_timeout_s: float = Field(default=60.0, description="Load timeout.")
    venv_installer: Literal["auto", "uv", "pip"] = Field(default="auto", description="Installer.")
    extra_paths: list[str] = Field(default_factory=list, description="Paths.")
    fast: bool = Field(default=False, description="Go fast.")


def test_fields_of_any_kind_get_a_typed_flag() -> None:
    @click.command()
    def command(**values: Any) -> None:
        click.echo(repr(sorted(values.items())))

    derived = with_settings_options(command, _NewFields)
    with derived.make_context("x", ["--memory-limit-mb", "512", "--load-timeout-s", "2.5",
                                    "--venv-installer", "uv", "--extra-paths", '["a", "b"]',
                                    "--fast"]) as ctx:  # fmt: skip
        values = dict(ctx.params)
    assert values == {
        "memory_limit_mb": 512, "load_timeout_s": 2.5, "venv_installer": "uv",
        "extra_paths": ["a", "b"], "fast": True,
    }  # fmt: skip
    assert _NewFields(**values).extra_paths == ["a", "b"]
    with pytest.raises(click.BadParameter):
        derived.make_context("x", ["--venv-installer", "conda"])
    with derived.make_context("x", []) as ctx:
        assert set(ctx.params.values()) == {None}
    help_texts = {p.name: getattr(p, "help", "") for p in derived.params}
    assert help_texts["extra_paths"] == "Paths.  [default: []]"
    assert help_texts["memory_limit_mb"] == "Memory per worker.  [default: unset]"
