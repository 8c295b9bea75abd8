"""Server settings: one pydantic-settings object; CLI flags > MODELRT_* env > YAML > defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit

import yaml
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from runtime.loops import LoopChoice
from runtime.placement.venv_installers import InstallerChoice
from runtime.store.bucket import parse_store_url

MiB = 1024 * 1024


class ServerSettings(BaseSettings):
    """Every server setting; each is also read from ``MODELRT_<NAME>`` and a YAML file.

    >>> ServerSettings(port=0).max_message_bytes == 256 * 1024 * 1024
    True
    """

    # Errors never repeat the input: it can hold the tokens.
    model_config = SettingsConfigDict(
        env_prefix="MODELRT_", extra="forbid", frozen=True, hide_input_in_errors=True
    )

    host: str = Field(
        default="127.0.0.1",
        description="Address to bind; 0.0.0.0 for every interface, :: for IPv6.",
    )
    port: int = Field(default=50051, ge=0, le=65535, description="gRPC port; 0 picks a free one.")
    model_store: Path = Field(
        default=Path("model-store"),
        validate_default=True,
        description="Folder of bundles (folders or zips) to serve; with store_url, this "
        "replica's cache of the bucket.",
    )
    create_model_store: bool = Field(
        default=False,
        description="Create model_store when it does not exist; unset, a missing folder (a "
        "mistyped path) stops the server at start.",
    )
    store_url: str | None = Field(
        default=None,
        description="s3://BUCKET[/PREFIX]: keep the store in an S3-compatible bucket that every "
        "replica shares; model_store is then this replica's cache of it. Credentials come from "
        "boto3's default chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, roles).",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="URL of an S3-compatible server (MinIO, Ceph, ...) for store_url; unset: AWS.",
    )
    store_sync_interval_s: float = Field(
        default=10.0,
        ge=0,
        description="Seconds between syncs with the model store, which other replicas may share: "
        "their uploads, deletes, loads and unloads are applied here; 0 syncs only at start.",
    )
    work_dir: Path | None = Field(
        default=None,
        description="Where zip bundles are unpacked; default <model_store>/.modelrt/unpacked.",
    )
    frontends: int | Literal["auto"] = Field(
        default=1,
        description="gRPC front-end processes sharing the port (SO_REUSEPORT) and feeding the same "
        "model instances; auto: one per available core. 1: the server process alone.",
    )
    max_message_bytes: int = Field(
        default=256 * MiB, ge=1024, description="Largest gRPC message accepted or sent."
    )
    grace_period_s: float = Field(
        default=10.0, ge=0, description="On SIGTERM/SIGINT, how long in-flight calls may finish."
    )
    max_sync_workers: int = Field(
        default=8, ge=1, description="Threads that run synchronous model hooks (shared, bounded)."
    )
    max_concurrent_streams: int = Field(
        default=64, ge=1, description="Stream calls served at once; more wait for a free slot."
    )
    strict_requirements: bool = Field(
        default=False,
        description="Fail a load when requirements.txt is not met, instead of warning.",
    )
    max_bundle_files: int = Field(default=10_000, ge=1, description="Unpack limit: entries.")
    max_bundle_bytes: int = Field(
        default=4 * 1024 * MiB, ge=1, description="Unpack limit: total uncompressed bytes."
    )
    max_compression_ratio: int = Field(
        default=200, gt=1, description="Unpack limit: uncompressed/compressed size ratio."
    )
    stream_window_bytes: int = Field(
        default=4 * MiB,
        ge=64 * 1024,
        description="Bytes a client may send on one call ahead of the server reading them (the "
        "HTTP/2 receive window): bounds memory per call; raise it for fast long-distance links.",
    )
    max_upload_bytes: int = Field(
        default=4 * 1024 * MiB,
        ge=1,
        description="Largest bundle zip an Upload may send; a bigger one is refused as soon as "
        "its header or its bytes pass this.",
    )
    execution: Literal["process", "inprocess"] = Field(
        default="process",
        description="Run each model instance in a worker process of its own (default), or inside "
        "the server process (debugging only: a crash in model code takes the server down).",
    )
    event_loop: LoopChoice = Field(
        default="auto",
        description="The server's event loop: uvloop when installed (auto), uvloop (required) or "
        "asyncio's own.",
    )
    hang_timeout_s: float = Field(
        default=300.0, gt=0, description="A worker that owes an answer this long is restarted."
    )
    max_restarts: int = Field(
        default=5, ge=0, description="Crashes within restart_window_s before a model is FAILED."
    )
    restart_window_s: float = Field(
        default=60.0, gt=0, description="The window, in seconds, that max_restarts counts in."
    )
    worker_memory_limit_mb: int = Field(
        default=0,
        ge=0,
        description="Resident memory (MiB) a model instance may use, its worker process and "
        "every process it starts together, unless its bundle sets memory_limit_mb; over it the "
        "instance is stopped (its calls get UNAVAILABLE) and restarted. 0 = unlimited.",
    )
    load_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="Time a model may take to load (import its code and run load_model, and the "
        "same at each restart); past it the model is FAILED and its worker ended, so start-up "
        "readiness never waits longer on a hung bundle.",
    )
    install_requirements: bool = Field(
        default=False,
        description="Install each bundle's requirements.txt into a venv of its own (cached by "
        "requirements hash) and run its workers there.",
    )
    venv_dir: Path | None = Field(
        default=None, description="Where bundle venvs live; default <model_store>/.modelrt/venvs."
    )
    venv_installer: InstallerChoice = Field(
        default="auto",
        description="What builds bundle venvs: uv when found on PATH or as the uv package, else "
        "pip (auto; a uv failure is retried with pip), or only uv, or only venv + pip (which, "
        "unlike uv, reads pip.conf and PIP_* settings).",
    )
    http_host: str = Field(
        default="127.0.0.1",
        description="Address of the HTTP front door (OIP REST, OpenAI-compatible routes, JSON "
        "routes, playground).",
    )
    http_port: int | Literal["auto"] = Field(
        default=8000,
        description="HTTP port; 0 turns the HTTP front door off; auto picks a free one.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins allowed to call the HTTP front door from other sites (CORS); "
        'empty: none (the default); ["*"]: any.',
    )
    metrics_host: str = Field(default="127.0.0.1", description="Address of the metrics endpoint.")
    metrics_port: int | None = Field(
        default=8002,
        ge=0,
        le=65535,
        description="Prometheus /metrics port; 0 picks a free one; --no-metrics (null in a "
        "file) serves none.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="The server's log level."
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="Bearer token that Upload, LoadModel, UnloadModel and DeleteModel require. "
        "Unset: those RPCs are accepted on a loopback bind only (PERMISSION_DENIED elsewhere).",
    )
    inference_token: SecretStr | None = Field(
        default=None,
        description="Bearer token that Predict, Generate, Stream, ListModels and GetModel "
        "require; unset: they are open. The admin token is accepted wherever a token is needed.",
    )
    tls_cert_file: Path | None = Field(
        default=None, description="Server certificate chain (PEM); with tls_key_file turns TLS on."
    )
    tls_key_file: Path | None = Field(
        default=None, description="Private key (PEM) of tls_cert_file."
    )
    tls_client_ca_file: Path | None = Field(
        default=None,
        description="CA bundle (PEM) that client certificates must chain to; set, every client "
        "must present one (mutual TLS).",
    )

    @field_validator("admin_token", "inference_token")
    @classmethod
    def _token_is_sendable(cls, token: SecretStr | None) -> SecretStr | None:
        # gRPC metadata values are printable ASCII; an empty token would match "Bearer ".
        if token is not None:
            value = token.get_secret_value()
            if not value or any(not "!" <= char <= "~" for char in value):
                raise ValueError(
                    "a token must be non-empty printable ASCII without spaces (unset it to "
                    "turn the check off)"
                )
        return token

    @field_validator("model_store", "work_dir", "venv_dir")
    @classmethod
    def _path_is_absolute(cls, path: Path | None) -> Path | None:
        # Made absolute once, against the directory the server starts in: build steps run in
        # other directories (pip runs in the bundle's), where a relative path means another place.
        return None if path is None else Path(os.path.abspath(path.expanduser()))

    @field_validator("http_port")
    @classmethod
    def _http_port_in_range(cls, port: int | str) -> int | str:
        if isinstance(port, int) and not 0 <= port <= 65535:
            raise ValueError("http_port must be 0 (off), auto or a port number up to 65535")
        return port

    @field_validator("frontends")
    @classmethod
    def _frontends_at_least_one(cls, count: int | str) -> int | str:
        if isinstance(count, int) and not 1 <= count <= 256:
            raise ValueError("frontends must be auto or a number from 1 to 256")
        return count

    @field_validator("store_url")
    @classmethod
    def _store_url_is_a_bucket(cls, url: str | None) -> str | None:
        if url is not None:
            parse_store_url(url)
        return url

    @field_validator("s3_endpoint_url")
    @classmethod
    def _endpoint_is_a_url(cls, url: str | None) -> str | None:
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("s3_endpoint_url must be an http:// or https:// URL with a host")
        return url

    @model_validator(mode="after")
    def _tls_files_go_together(self) -> Self:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            given, missing = (
                ("tls_cert_file", "tls_key_file")
                if self.tls_key_file is None
                else ("tls_key_file", "tls_cert_file")
            )
            raise ValueError(f"{given} is set but {missing} is not: TLS needs both")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError(
                "tls_client_ca_file (mutual TLS) needs tls_cert_file and tls_key_file too"
            )
        if self.s3_endpoint_url is not None and self.store_url is None:
            raise ValueError("s3_endpoint_url is set but store_url is not: it names no bucket")
        return self

    @property
    def tls(self) -> bool:
        """Whether the server listens with TLS (a certificate and key are configured)."""
        return self.tls_cert_file is not None

    @property
    def frontend_count(self) -> int:
        """How many gRPC front-end processes serve: ``frontends``, with auto made a number."""
        if self.frontends == "auto":
            return max(1, len(os.sched_getaffinity(0)))
        return self.frontends

    @property
    def unpack_dir(self) -> Path:
        return self.work_dir or self.model_store / ".modelrt" / "unpacked"

    @property
    def venv_path(self) -> Path:
        return self.venv_dir or self.model_store / ".modelrt" / "venvs"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls))


def load_settings(overrides: dict[str, Any], config_file: Path | None = None) -> ServerSettings:
    """Build settings from CLI ``overrides`` (highest), env, then ``config_file`` (YAML).

    >>> load_settings({"port": 0}).port
    0
    """
    flags = {key: value for key, value in overrides.items() if value is not None}
    if config_file is None:
        return ServerSettings(**flags)
    if not config_file.is_file():
        raise FileNotFoundError(f"settings file {config_file} does not exist")
    try:
        data = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"settings file {config_file} cannot be read: {exc}") from None
    if data is not None and not isinstance(data, dict):
        raise ValueError(f"settings file {config_file} must be a mapping of setting names")

    class _FromFile(ServerSettings):
        model_config = SettingsConfigDict(yaml_file=config_file)

    return ServerSettings(**_FromFile(**flags).model_dump())
