"""Starts moto's standalone S3-compatible HTTP server on 127.0.0.1 for the S3 store's tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import boto3

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MOTO_SERVER = Path(sys.executable).with_name("moto_server")
START_TIMEOUT_S = 20.0
# What boto3's default chain reads; the server accepts any credentials.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def start_s3_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """moto's S3 server on a free port, output to ``workdir/moto.log``; returns it and its URL.

    The caller stops the process (``tests.serve_process.stop``).
    """
    port = _free_port()
    log_path = workdir / "moto.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _answers(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait(10)
            raise AssertionError(f"moto_server did not start:\n{log_path.read_text()}")
        time.sleep(0.05)
    return process, f"http://127.0.0.1:{port}"


def s3_client(endpoint: str) -> S3Client:
    """A client of the test server, with the test credentials (not read from the environment)."""
    session = boto3.session.Session(
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
    )
    return session.client("s3", endpoint_url=endpoint)


def new_bucket(endpoint: str) -> str:
    """Create a bucket with a fresh name on the test server and return its name."""
    name = f"models-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return name


def keys(endpoint: str, bucket: str) -> list[str]:
    """Every key in ``bucket``, sorted."""
    listed = s3_client(endpoint).list_objects_v2(Bucket=bucket)
    return sorted(obj["Key"] for obj in listed.get("Contents", []))
