"""Writes Clarifai-style model folders for tests: config.yaml, requirements.txt, 1/model.py."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


def clarifai_config(
    model_id: str, model_type_id: str = "text-to-text", **sections: Any
) -> dict[str, Any]:
    """A config.yaml mapping as the platform writes it (user_id and app_id included)."""
    model = {"id": model_id, "user_id": "acme", "app_id": "main", "model_type_id": model_type_id}
    config: dict[str, Any] = {"model": model, "build_info": {"python_version": "3.11"}}
    config["inference_compute_info"] = {
        "cpu_limit": "1",
        "cpu_memory": "1Gi",
        "num_accelerators": 0,
    }
    config.update(sections)
    return config


def write_clarifai(
    root: Path,
    model_id: str,
    model_py: str,
    *,
    model_type_id: str = "text-to-text",
    config: Mapping[str, Any] | None = None,
    files: Mapping[str, str | bytes] | None = None,
    top_level: bool = False,
    requirements: str = "clarifai>=11.5\nclarifai-grpc>=11.5\n",
) -> Path:
    """Create ``root/<model_id>/`` with config.yaml, requirements.txt and 1/model.py (or
    model.py at the top with ``top_level``); ``config`` adds or replaces config sections."""
    folder = root / model_id
    code = folder / ("model.py" if top_level else "1/model.py")
    code.parent.mkdir(parents=True, exist_ok=True)
    code.write_text(textwrap.dedent(model_py), encoding="utf-8")
    data = clarifai_config(model_id, model_type_id, **dict(config or {}))
    (folder / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    (folder / "requirements.txt").write_text(requirements, encoding="utf-8")
    for relative, content in (files or {}).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
    return folder


# Model code following the patterns of published Clarifai models, written for modelrt's tests.

#: SDK 10.9-11.0 proto style: ``ModelRunner.predict(request)``; like the published models it reads
#: the model version id first and only then the output_info params (an empty id leaves them unset).
LEGACY_PROTO_MODEL = """
    from google.protobuf import json_format
    from clarifai_grpc.grpc.api import resources_pb2, service_pb2
    from clarifai_grpc.grpc.api.status import status_code_pb2
    from clarifai.runners.models.model_runner import ModelRunner


    def _reply(text):
        output = resources_pb2.Output()
        output.data.text.raw = text
        output.status.code = status_code_pb2.SUCCESS
        return service_pb2.MultiOutputResponse(outputs=[output])


    class LegacyWriter(ModelRunner):
        def _settings(self, request):
            info = None
            if request.model.model_version.id != "":
                info = json_format.MessageToDict(
                    request.model.model_version.output_info, preserving_proto_field_name=True
                )
            return info.get("params", {})

        def predict(self, request: service_pb2.PostModelOutputsRequest):
            params = self._settings(request)
            prefix = params.get("prefix", ">")
            texts = [prefix + item.data.text.raw for item in request.inputs]
            return _reply(" ".join(texts) + " @" + request.model.model_version.id)

        def generate(self, request: service_pb2.PostModelOutputsRequest):
            count = int(self._settings(request).get("count", 2))
            for index in range(count):
                yield _reply(f"{request.inputs[0].data.text.raw}{index}")
"""

#: Later SDKs, proto style: a ModelClass whose code defines the platform's RPC methods itself.
RPC_METHOD_MODEL = """
    from clarifai_grpc.grpc.api import resources_pb2, service_pb2
    from clarifai_grpc.grpc.api.status import status_code_pb2
    from clarifai.runners.models.model_class import ModelClass


    def _reply(text):
        output = resources_pb2.Output()
        output.data.text.raw = text
        output.status.code = status_code_pb2.SUCCESS
        return service_pb2.MultiOutputResponse(outputs=[output])


    class Relay(ModelClass):
        def load_model(self):
            self.mark = "*"

        def PostModelOutputs(self, request):
            return _reply(self.mark + request.inputs[0].data.text.raw)

        def GenerateModelOutputs(self, request):
            for letter in request.inputs[0].data.text.raw:
                yield _reply(letter)

        def StreamModelOutputs(self, request_iterator):
            for request in request_iterator:
                yield _reply(request.inputs[0].data.text.raw[::-1])
"""
