"""modelrt requests <-> the platform's PostModelOutputsRequest / MultiOutputResponse messages.

Uses the real clarifai-grpc messages, filled in as the platform fills them: the model id and a
model version id (``model_id``/``version_id`` and ``model.id``/``model.model_version.id``; the
version id is the modelrt version), the user and app ids when config.yaml names them, and the
call's parameters as ``model.model_version.output_info.params``. Models written for SDK 10.9-11.0
read the version id before anything else. A request becomes one input: text -> ``data.text.raw``;
bytes -> ``data.image.base64`` (``data.audio``/``data.video`` when the input's name says audio or
video); a tensor -> ``data.ndarray``; JSON -> ``data.metadata[name]``; a second value for a field
already taken -> ``data.parts`` with the input's name as id. An output's text, concepts,
regions, embeddings and metadata come back as structured JSON; its image/audio/video bytes and
ndarray as named outputs.
"""

from __future__ import annotations

import base64
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from loader.errors import BundleError
from registry.runner import Request

_SUCCESS = 10000  # status_code_pb2.SUCCESS
_BLOBS = ("image", "audio", "video")


class ModelAnswerError(RuntimeError):
    """The model answered with a failure status (reported to the caller as INTERNAL)."""


def grpc_messages() -> SimpleNamespace:
    """clarifai-grpc's resources_pb2 and service_pb2, or a BundleError saying to install it."""
    try:
        resources = importlib.import_module("clarifai_grpc.grpc.api.resources_pb2")
        service = importlib.import_module("clarifai_grpc.grpc.api.service_pb2")
    except ImportError as exc:
        raise BundleError(
            "this Clarifai model takes PostModelOutputsRequest messages, which need the"
            f" clarifai-grpc package (pip install 'modelrt[clarifai]'): {exc}"
        ) from None
    return SimpleNamespace(resources=resources, service=service)


def _slot(name: str, value: Any) -> str:
    import numpy as np

    if isinstance(value, str):
        return "text"
    if isinstance(value, bytes):
        lowered = name.lower()
        return next((kind for kind in ("audio", "video") if kind in lowered), "image")
    if isinstance(value, np.ndarray):
        return "ndarray"
    return "metadata"


def _put(data: Any, slot: str, name: str, value: Any) -> None:
    import numpy as np

    if slot == "text":
        data.text.raw = value
    elif slot in _BLOBS:
        getattr(data, slot).base64 = value
    elif slot == "ndarray":
        array = np.ascontiguousarray(value)
        data.ndarray.buffer = array.tobytes()
        data.ndarray.shape.extend(array.shape)
        data.ndarray.dtype = str(array.dtype)
    else:
        data.metadata.update({name: _plain_json(value)})


def _plain_json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_json(v) for v in value]
    return value


def _from_struct(value: Any) -> Any:
    """A protobuf Struct/ListValue (or a value in one) as plain Python; 3.0 comes back as 3."""
    if hasattr(value, "items"):
        return {str(k): _from_struct(v) for k, v in value.items()}
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) <= 2**53 else value
    if isinstance(value, str | bool | int) or value is None:
        return value
    return [_from_struct(v) for v in value]


@dataclass(frozen=True)
class ModelIdentity:
    """What the platform says about the model in every request: ids and type."""

    model_id: str
    version_id: str
    model_type_id: str = ""
    user_id: str = ""
    app_id: str = ""

    def fill(self, message: Any) -> None:
        """Set the ids of a PostModelOutputsRequest where platform-written models read them."""
        message.model_id = self.model_id
        message.version_id = self.version_id
        message.model.id = self.model_id
        message.model.model_type_id = self.model_type_id
        message.model.model_version.id = self.version_id
        if self.user_id or self.app_id:
            message.user_app_id.user_id = self.user_id
            message.user_app_id.app_id = self.app_id
            message.model.user_id = self.user_id
            message.model.app_id = self.app_id


class ProtoCodec:
    """Converts requests and responses for one model (its identity and concept names)."""

    def __init__(self, identity: ModelIdentity, concept_names: Mapping[str, str]) -> None:
        self.messages = grpc_messages()
        self.identity = identity
        self.concept_names = dict(concept_names)

    def request(self, request: Request) -> Any:
        """The PostModelOutputsRequest for one modelrt request (see the module docstring)."""
        message = self.messages.service.PostModelOutputsRequest()
        self.identity.fill(message)
        params = message.model.model_version.output_info.params
        params.SetInParent()  # present even when empty: models read output_info["params"]
        params.update(_plain_json(request.parameters))
        item = message.inputs.add()
        item.id = request.id
        used: set[str] = set()
        for name, value in request.inputs.items():
            slot = _slot(name, value)
            if slot in used and slot != "metadata":
                part = item.data.parts.add()
                part.id = name
                _put(part.data, slot, name, value)
                continue
            used.add(slot)
            _put(item.data, slot, name, value)
        return message

    def response(self, response: Any) -> dict[str, Any]:
        """One MultiOutputResponse as named outputs plus structured JSON."""
        self._check(response.status, "the model")
        outputs = list(response.outputs)
        for index, output in enumerate(outputs):
            self._check(output.status, f"output {index}")
        converted = [self.data(output.data) for output in outputs]
        if len(converted) == 1:
            return converted[0]
        return {"outputs": [_json_only(item) for item in converted]} if converted else {}

    def _check(self, status: Any, who: str) -> None:
        if status.code in (0, _SUCCESS):
            return
        text = "; ".join(part for part in (status.description, status.details) if part)
        raise ModelAnswerError(f"{who} answered status {status.code}: {text or 'no details'}")

    def data(self, data: Any) -> dict[str, Any]:
        """A Data message as a dict: JSON fields, and bytes/arrays to send as named outputs."""
        import numpy as np

        result: dict[str, Any] = {}
        if data.text.raw or data.text.url:
            result["text"] = data.text.raw
        if data.text.url:
            result["text_url"] = data.text.url
        if data.concepts:
            result["concepts"] = [self.concept(concept) for concept in data.concepts]
        if data.regions:
            result["regions"] = [self.region(region) for region in data.regions]
        if data.embeddings:
            result["embeddings"] = [[float(v) for v in e.vector] for e in data.embeddings]
        for kind in _BLOBS:
            blob = getattr(data, kind)
            if blob.base64:
                result[kind] = bytes(blob.base64)
            if blob.url:
                result[f"{kind}_url"] = blob.url
        if data.ndarray.buffer:
            array = np.frombuffer(data.ndarray.buffer, dtype=np.dtype(data.ndarray.dtype))
            result["ndarray"] = array.reshape(tuple(data.ndarray.shape))
        if len(data.metadata):
            result["metadata"] = _from_struct(data.metadata)
        if data.parts:
            result["parts"] = {
                part.id or str(i): _json_only(self.data(part.data))
                for i, part in enumerate(data.parts)
            }
        return result

    def concept(self, concept: Any) -> dict[str, Any]:
        name = concept.name or self.concept_names.get(concept.id, concept.id)
        # float32 on the wire: 7 significant digits drop the noise (0.9 not 0.8999999761).
        return {"id": concept.id, "name": name, "value": float(f"{concept.value:.7g}")}

    def region(self, region: Any) -> dict[str, Any]:
        result: dict[str, Any] = {"id": region.id}
        if region.region_info.HasField("bounding_box"):
            box = region.region_info.bounding_box
            values = (box.left_col, box.top_row, box.right_col, box.bottom_row)
            result["box"] = [float(f"{v:.7g}") for v in values]
        if region.value:
            result["value"] = float(f"{region.value:.7g}")
        if region.data.concepts:
            result["concepts"] = [self.concept(concept) for concept in region.data.concepts]
        if region.data.text.raw:
            result["text"] = region.data.text.raw
        if region.track_id:
            result["track_id"] = region.track_id
        return result


def _json_only(item: Mapping[str, Any]) -> dict[str, Any]:
    """Bytes as base64 text and arrays as lists, for values nested inside JSON."""
    import numpy as np

    plain: dict[str, Any] = {}
    for key, value in item.items():
        if isinstance(value, bytes):
            plain[key] = base64.b64encode(value).decode("ascii")
        elif isinstance(value, np.ndarray):
            plain[key] = value.tolist()
        else:
            plain[key] = value
    return plain
