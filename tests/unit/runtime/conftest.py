"""A moto S3 server for the tests of runtime.store.bucket and .mirror, started once a session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runtime.store.bucket import Bucket, parse_store_url
from tests.s3_server import CREDENTIALS, new_bucket, start_s3_server
from tests.serve_process import stop


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, endpoint = start_s3_server(tmp_path_factory.mktemp("moto"))
    yield endpoint
    stop(process)


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A store in a fresh bucket under the prefix ``models/``; credentials come from the env."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return Bucket(parse_store_url(f"s3://{new_bucket(s3_endpoint)}/models"), s3_endpoint)
