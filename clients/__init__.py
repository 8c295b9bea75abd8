"""The modelrt Python client SDK (blocking and asyncio) and the ``modelrt`` CLI.

>>> from clients import Client
>>> with Client("127.0.0.1:50051") as client:
...     print(client.predict("echo", {"text": "hi"}).structured)
"""

from clients.async_client import AsyncClient, AsyncItemStream
from clients.errors import (
    AlreadyExistsError,
    DataLossError,
    DeadlineExceededError,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    ItemError,
    ModelrtClientError,
    NotFoundError,
    PermissionDeniedError,
    RequestCancelledError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
    UnimplementedError,
    from_rpc_error,
)
from clients.sync_client import Client, ItemStream
from clients.types import InputSpec, ModelInfo, Prediction, StreamItem, UploadResult
from clients.uploading import BundleFileError

__all__ = [
    "AlreadyExistsError",
    "AsyncClient",
    "AsyncItemStream",
    "BundleFileError",
    "Client",
    "DataLossError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "InputSpec",
    "InternalError",
    "InvalidArgumentError",
    "ItemError",
    "ItemStream",
    "ModelInfo",
    "ModelrtClientError",
    "NotFoundError",
    "PermissionDeniedError",
    "Prediction",
    "RequestCancelledError",
    "ResourceExhaustedError",
    "StreamItem",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "UploadResult",
    "from_rpc_error",
]
