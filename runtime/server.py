"""Builds and wires the server: settings -> engine, executors, servicers, health and reflection."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import shutil
import tempfile
from functools import partial
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from loader.unpack import UnpackLimits
from modelrt.v1 import runtime_pb2
from runtime.api.auth import AccessPolicy, AuthInterceptor, log_access_policy
from runtime.api.frontend_process import Launch
from runtime.api.grpc_options import server_options
from runtime.api.health import FRONTENDS, NOT_SERVING, SERVING, HealthReporter, ModelHealthServicer
from runtime.api.http.app import build_app
from runtime.api.http.context import HttpContext
from runtime.api.http.front_door import HttpFrontDoor
from runtime.api.link_server import LinkServer
from runtime.api.oip_dataplane import OipDataPlane
from runtime.api.oip_servicer import SERVICE_NAME as OIP_SERVICE_NAME
from runtime.api.oip_servicer import InferenceServicer
from runtime.api.oip_servicer import add_to_server as add_oip_to_server
from runtime.api.reflection import enable_reflection
from runtime.api.registration import GenericOnly
from runtime.api.rpc_metrics import add_measured_servicer
from runtime.api.servicer import ModelRuntimeServicer, add_to_server
from runtime.api.tls import server_credentials
from runtime.engine.catalog import Catalog
from runtime.engine.engine import Engine
from runtime.engine.lifecycle import Lifecycle
from runtime.engine.models import ModelRecord
from runtime.engine.reconcile import StoreSync
from runtime.engine.table import ModelTable
from runtime.engine.uploads import Uploads, UploadSettings
from runtime.frontends import FrontendFleet
from runtime.instances.executor import ExecutorFactory
from runtime.instances.inprocess import make_inprocess_factory
from runtime.instances.validation import validate_bundle
from runtime.instances.workers import WorkerSettings, make_worker_factory
from runtime.metrics.metrics import Metrics
from runtime.placement.devices import SystemInventory, discover_gpus
from runtime.placement.planning import InstancePlanner
from runtime.placement.venvs import ensure_venv
from runtime.settings import ServerSettings
from runtime.store.bucket import Bucket, parse_store_url
from runtime.store.mirror import StoreMirror
from runtime.store.store import ModelStore

logger = logging.getLogger(__name__)
SERVICE_NAME = runtime_pb2.DESCRIPTOR.services_by_name["ModelRuntime"].full_name


def bind_address(host: str, port: int) -> str:
    """host:port for grpc, with IPv6 hosts in brackets."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def _transport(settings: ServerSettings) -> str:
    if not settings.tls:
        return "plaintext, no TLS"
    if settings.tls_client_ca_file is not None:
        return "mutual TLS: client certificates required"
    return "TLS"


def _grpc_server(settings: ServerSettings, policy: AccessPolicy) -> grpc.aio.Server:
    """The gRPC server: message size limits, a bounded receive window, auth where it refuses;
    the port shared (SO_REUSEPORT) with helper front ends when there are some."""
    options = server_options(settings, share_port=settings.frontend_count > 1)
    # No interceptor unless something can be refused: the default hot path pays nothing.
    interceptors = [AuthInterceptor(policy)] if policy.enforces else []
    return grpc.aio.server(options=options, interceptors=interceptors)


def _add_services(
    server: grpc.aio.Server,
    servicer: ModelRuntimeServicer,
    inference: InferenceServicer,
    health_servicer: ModelHealthServicer,
    metrics: Metrics | None,
    served: tuple[str, ...],
) -> None:
    """modelrt.v1 and the Open Inference Protocol (measured per call when ``metrics``), health
    and reflection."""
    services = GenericOnly(server)
    if metrics is not None:
        add_measured_servicer(add_to_server, servicer, services, metrics)
        add_measured_servicer(add_oip_to_server, inference, services, metrics)
    else:  # nobody reads the counts: skip measuring
        add_to_server(servicer, services)
        add_oip_to_server(inference, services)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, services)
    health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
    enable_reflection(server, (*served, health_name))


def _unpack_limits(settings: ServerSettings) -> UnpackLimits:
    return UnpackLimits(
        max_files=settings.max_bundle_files,
        max_total_bytes=settings.max_bundle_bytes,
        max_ratio=settings.max_compression_ratio,
    )


def _build_planner(settings: ServerSettings) -> InstancePlanner:
    return InstancePlanner(
        inventory=SystemInventory(),
        strict_requirements=settings.strict_requirements,
        max_sync_workers=settings.max_sync_workers,
        max_concurrent_streams=settings.max_concurrent_streams,
        venv_dir=settings.venv_path if settings.install_requirements else None,
        make_env=partial(ensure_venv, installer=settings.venv_installer),
    )


def _build_bucket(settings: ServerSettings) -> Bucket | None:
    """The bucket every replica shares, when the settings name one (store_url)."""
    if settings.store_url is None:
        return None
    bucket = Bucket(parse_store_url(settings.store_url), settings.s3_endpoint_url)
    logger.info("model store: %s, cached in %s", bucket.location.url, settings.model_store)
    return bucket


class ModelServer:
    """A modelrt server. ``await start()`` binds and returns the port; models load in background.

    >>> server = ModelServer(ServerSettings(port=0))  # doctest: +SKIP
    >>> port = await server.start()  # doctest: +SKIP
    """

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.engine: Engine | None = None
        self._server: grpc.aio.Server | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._health: HealthReporter | None = None
        self._loading: asyncio.Task[None] | None = None
        self._store_sync: StoreSync | None = None
        self.metrics: Metrics | None = None
        self.port = 0
        self.metrics_port: int | None = None
        self.http_port: int | None = None
        self._http: HttpFrontDoor | None = None
        self._sockets: Path | None = None  # the main process's Unix sockets, for helper front ends
        self._link: LinkServer | None = None
        self._fleet: FrontendFleet | None = None

    async def start(self) -> int:
        settings = self.settings
        credentials = server_credentials(settings)  # unreadable TLS files fail before anything
        policy = AccessPolicy.from_settings(settings)
        self.metrics = metrics = Metrics(gpus=discover_gpus)
        engine, uploads = self._build_engine(metrics)
        self.engine = engine
        health_servicer = ModelHealthServicer()
        served = (SERVICE_NAME, OIP_SERVICE_NAME)
        self._health = health = HealthReporter(health_servicer, served)
        engine.add_listener(health.model_changed)
        engine.add_listener(self._track_metrics)
        engine.on_forget(health.forget)
        engine.on_forget(metrics.forget_model)
        self._server = server = _grpc_server(settings, policy)
        measured = metrics if settings.metrics_port is not None else None
        servicer = ModelRuntimeServicer(engine, uploads)
        inference = InferenceServicer(engine, health_servicer, metrics)
        _add_services(server, servicer, inference, health_servicer, measured, served)
        self.port = self._listen(server, credentials)
        self._listen_locally(server)
        self._start_metrics_http(metrics)
        await server.start()
        http_context = HttpContext(
            engine=engine,
            uploads=uploads,
            health=health_servicer,
            policy=AccessPolicy.from_settings(settings, host=settings.http_host),
            metrics=measured,
            inference=inference,
            max_body_bytes=settings.max_message_bytes,
            max_upload_bytes=settings.max_upload_bytes,
            spool_dir=settings.unpack_dir,
        )
        try:
            await self._start_http(http_context)
            await self._start_frontends(engine, inference.plane, metrics, measured, health_servicer)
        except BaseException:
            await self.stop(0)  # the gRPC port and the metrics endpoint are not left behind
            raise
        health.starting()
        logger.info(
            "modelrt listening on %s (%s)",
            bind_address(settings.host, self.port),
            _transport(settings),
        )
        log_access_policy(policy)
        self._loading = asyncio.create_task(self._load_store())
        return self.port

    async def _start_http(self, context: HttpContext) -> None:
        """The HTTP front door over the same engine, unless http_port is 0 (off)."""
        settings = self.settings
        if settings.http_port == 0:
            return
        port = 0 if settings.http_port == "auto" else settings.http_port
        tls = None
        if settings.tls_cert_file is not None and settings.tls_key_file is not None:
            tls = (settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file)
        app = build_app(context, settings.cors_origins)
        self._http = HttpFrontDoor(app, settings.http_host, port, tls, settings.grace_period_s)
        self.http_port = await self._http.start()
        scheme = "https" if tls else "http"
        logger.info(
            "HTTP on %s://%s/ (playground, OIP REST /v2, OpenAI-compatible /v1, docs at /docs)",
            scheme,
            bind_address(settings.http_host, self.http_port),
        )

    def _listen_locally(self, server: grpc.aio.Server) -> None:
        """With helper front ends: the gRPC server on a Unix socket too, in a private folder."""
        if self.settings.frontend_count == 1:
            return
        # A fresh mode-0700 folder under the temp dir: socket paths must stay under 108 bytes.
        self._sockets = Path(tempfile.mkdtemp(prefix="modelrt-frontends-"))
        server.add_insecure_port(f"unix:{self._sockets / 'grpc.sock'}")

    async def _start_frontends(
        self,
        engine: Engine,
        plane: OipDataPlane,
        metrics: Metrics,
        measured: Metrics | None,
        health: ModelHealthServicer,
    ) -> None:
        """Helper front ends on the shared port: Predict and OIP ModelInfer over the predict
        link, the rest proxied to the Unix socket; health "frontends" SERVING while all are up."""
        settings, sockets = self.settings, self._sockets
        if sockets is None:
            return
        self._link = LinkServer(engine, plane, measured, metrics.fleet.count_predict)
        await self._link.start(sockets / "predict.sock")
        address = bind_address(settings.host, self.port)

        def launch_line(slot: int) -> str:
            return Launch(
                settings, address, sockets / "grpc.sock", sockets / "predict.sock", slot
            ).to_json()

        def changed(up: int, helpers: int) -> None:
            metrics.fleet.set_up(up + 1)
            health.set(FRONTENDS, SERVING if up == helpers else NOT_SERVING)

        count = settings.frontend_count
        self._fleet = FrontendFleet(
            count, launch_line, changed, lambda slot: metrics.fleet.count_restart()
        )
        await self._fleet.start()
        logger.info("%d gRPC front ends share %s (pids %s)", count, address, self._fleet.pids)

    def _start_metrics_http(self, metrics: Metrics) -> None:
        settings = self.settings
        if settings.metrics_port is None:
            return
        self.metrics_port = metrics.start_http(settings.metrics_host, settings.metrics_port)
        logger.info(
            "metrics on http://%s/metrics", bind_address(settings.metrics_host, self.metrics_port)
        )

    def _listen(self, server: grpc.aio.Server, credentials: grpc.ServerCredentials | None) -> int:
        address = bind_address(self.settings.host, self.settings.port)
        try:
            if credentials is None:
                return int(server.add_insecure_port(address))
            return int(server.add_secure_port(address, credentials))
        except RuntimeError as exc:
            # grpc reports a key that does not match the certificate as a bind failure.
            hint = " with TLS (is tls_key_file the key of tls_cert_file?)" if credentials else ""
            raise RuntimeError(f"cannot listen on {address}{hint}: {exc}") from None

    def _build_engine(self, metrics: Metrics) -> tuple[Engine, Uploads]:
        """The engine (model table, lifecycle, catalog over the store) and the uploads into it."""
        settings = self.settings
        limits = _unpack_limits(settings)
        planner = _build_planner(settings)
        factory = self._build_executor_factory(metrics)
        store = ModelStore(settings.model_store)  # with a bucket: this replica's cache of it
        mirror = StoreMirror(store, _build_bucket(settings), limits)
        table = ModelTable()
        lifecycle = Lifecycle(
            table, factory, planner, observer=metrics, load_timeout_s=settings.load_timeout_s
        )
        catalog = Catalog(table, lifecycle, store, mirror, settings.unpack_dir, limits)
        upload_settings = UploadSettings(
            max_upload_bytes=settings.max_upload_bytes,
            limits=limits,
            strict_requirements=settings.strict_requirements,
            check_timeout_s=settings.load_timeout_s,
        )
        uploads = Uploads(
            upload_settings,
            validate_bundle,
            catalog=catalog,
            store=store,
            mirror=mirror,
            planner=planner,
        )
        return Engine(table, catalog, lifecycle), uploads

    def _build_executor_factory(self, metrics: Metrics) -> ExecutorFactory:
        """Worker processes, or (execution "thread") this process with a pool for sync hooks."""
        settings = self.settings
        if settings.execution == "process":
            return make_worker_factory(
                WorkerSettings(
                    start_timeout_s=settings.load_timeout_s,
                    hang_timeout_s=settings.hang_timeout_s,
                    max_restarts=settings.max_restarts,
                    restart_window_s=settings.restart_window_s,
                    log_level=settings.log_level,
                    memory_limit_mb=settings.worker_memory_limit_mb,
                ),
                observer=metrics,
            )
        self._pool = concurrent.futures.ThreadPoolExecutor(
            settings.max_sync_workers, thread_name_prefix="modelrt-hook"
        )
        return make_inprocess_factory(
            self._pool, asyncio.Semaphore(settings.max_concurrent_streams)
        )

    def _track_metrics(self, record: ModelRecord) -> None:
        if self.metrics is None:
            return
        self.metrics.set_model_state(record.name, record.version, str(record.state))
        self.metrics.set_instances_up(record.name, record.instances_up)

    async def _load_store(self) -> None:
        assert self.engine is not None
        assert self._health is not None
        await self.engine.start()
        self._health.loaded()
        self._store_sync = StoreSync(self.engine.sync, self.settings.store_sync_interval_s)
        self._store_sync.start()
        records = self.engine.records()
        ready = sum(r.state == "READY" for r in records)
        logger.info("start-up loading finished: %d of %d models ready", ready, len(records))

    async def wait_loaded(self) -> None:
        """Wait until start-up loading has finished."""
        if self._loading is not None:
            await asyncio.shield(self._loading)

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    async def stop(self, grace: float | None = None) -> None:
        """Stop taking calls, let in-flight ones finish within ``grace`` seconds, then stop."""
        grace = self.settings.grace_period_s if grace is None else grace
        if self._health is not None:
            self._health.shutting_down()
        if self._http is not None:
            await self._http.stop()
        stopping = [] if self._fleet is None else [self._fleet.stop(grace)]
        if self._server is not None:
            stopping.append(self._server.stop(grace))
        await asyncio.gather(*stopping)  # helper front ends drain while this one does
        if self._link is not None:
            await self._link.stop()
        if self._sockets is not None:
            shutil.rmtree(self._sockets, ignore_errors=True)
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
            await asyncio.gather(self._loading, return_exceptions=True)
        if self._store_sync is not None:
            await self._store_sync.stop()
        if self.engine is not None:
            await self.engine.shutdown()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self.metrics is not None:
            self.metrics.stop_http()
        logger.info("modelrt stopped")
