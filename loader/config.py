"""The native bundle config (modelrt.yaml): a strict pydantic model and the YAML reader."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from loader.errors import BundleError

ModelType = Literal[
    "classification",
    "object_detection",
    "segmentation",
    "text_generation",
    "speech_recognition",
    "other",
]
Framework = Literal["onnx", "pytorch", "tensorflow", "keras", "sklearn", "other"]
InputKind = Literal["tensor", "bytes", "text", "json"]
DTypeName = Literal[
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "bfloat16", "float32", "float64", "string", "bytes",
]  # fmt: skip


# A model name is a folder of the model store and a health service name; versions are folders too.
_STORE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
NAME_RULE = "1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
#: Names the server's health service answers for itself (liveness, and the gRPC services it
#: serves, ready once start-up loading has finished); "" (readiness) is never a name either.
RESERVED_NAMES = frozenset(
    {"liveness", "modelrt.v1.ModelRuntime", "inference.GRPCInferenceService"}
)


def model_name_problem(name: str) -> str:
    """What is wrong with ``name`` as a model name, as a phrase; "" when nothing is.

    >>> model_name_problem("iris-v2")
    ''
    >>> model_name_problem("liveness")
    'is reserved: the health service uses it for the server itself'
    """
    if not name:
        return "is empty: a call must name the model (an empty name never means every model)"
    if name in RESERVED_NAMES:
        return "is reserved: the health service uses it for the server itself"
    if not _STORE_NAME.fullmatch(name):
        return f"is not a model name: use {NAME_RULE}"
    return ""


def version_problem(version: str) -> str:
    """What is wrong with ``version`` as a version name, as a phrase; "" when nothing is.

    >>> version_problem("../1")
    "is not a version: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
    """
    if not _STORE_NAME.fullmatch(version):
        return f"is not a version: use {NAME_RULE}"
    return ""


#: The picture files a model card may show.
CARD_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".svg")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Strict):
    """One declared input; requests are checked against it before they reach the model."""

    name: str
    kind: InputKind = "tensor"
    dtype: DTypeName | None = None
    shape: tuple[int, ...] | None = Field(
        default=None, description="Expected shape; -1 for a dimension of any size."
    )
    optional: bool = False

    @field_validator("shape")
    @classmethod
    def _dims(cls, shape: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if shape is not None and any(dim < -1 for dim in shape):
            raise ValueError("dimensions are sizes >= 0, or -1 for any size")
        return shape


class BatchingConfig(_Strict):
    """Dynamic batching of Predict calls (0 = off). Validated; the batching scheduler applies it."""

    max_batch_size: int = Field(default=0, ge=0)
    max_queue_delay_ms: float = Field(default=0.0, ge=0)
    queue_delay: Literal["adaptive", "fixed"] = Field(
        default="adaptive",
        description="adaptive: a batch that is not full waits (up to max_queue_delay_ms) only "
        "while the measured trip cost says more requests are worth waiting for; fixed: it "
        "always waits out max_queue_delay_ms (Triton's behaviour).",
    )
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_size: int = Field(default=1024, ge=1)


class InstanceGroup(_Strict):
    """A group of identical model instances (Triton-style). Validated; worker executors apply it."""

    count: int = Field(default=1, ge=1)
    kind: Literal["auto", "cpu", "gpu"] = "auto"
    gpus: tuple[int, ...] = ()
    gpu_memory_mb: int = Field(
        default=0,
        ge=0,
        description="GPU memory (MiB) each instance of the group needs free on its GPU; 0 = none.",
    )


class OutputSpec(_Strict):
    """One named tensor output of a no-code (weights-only) bundle.

    ``source`` says where it comes from: an ONNX graph output or SavedModel signature key, a
    scikit-learn method (``predict_proba``), or a position (``"1"``) in a tuple result; by
    default the name itself (or the model's single result).
    """

    name: str
    source: str | None = None


class BundleConfig(_Strict):
    """modelrt.yaml. Unknown keys are errors, so a typo never silently falls back to a default.

    >>> BundleConfig(name="echo").version
    '1'
    """

    name: str = Field(description="The model's name; the namespace model.py registers.")
    version: str = "1"
    description: str = ""
    model_type: ModelType = "other"
    framework: Framework = "other"
    labels: tuple[str, ...] = ()
    card_image: str | None = Field(
        default=None,
        description="The model card's picture (PNG, JPEG, WebP or SVG), relative to the bundle;"
        " by default a card.png/.jpg/.jpeg/.webp/.svg at the bundle's root.",
    )
    inputs: tuple[InputSpec, ...] = ()
    batching: BatchingConfig = BatchingConfig()
    instances: tuple[InstanceGroup, ...] = (InstanceGroup(),)
    parameters: dict[str, Any] = Field(default_factory=dict)
    memory_limit_mb: int | None = Field(
        default=None,
        ge=0,
        description="Resident memory (MiB) each instance may use, its worker and every process"
        " it starts together; over it the instance is stopped and restarted. 0 = unlimited;"
        " unset: the server's worker_memory_limit_mb.",
    )
    weights: str | None = Field(
        default=None,
        description="Weights file or SavedModel folder, relative to the bundle; by default the"
        " only one the bundle holds. Used by bundles without model.py and by load_weights().",
    )
    outputs: tuple[OutputSpec, ...] | None = Field(
        default=None,
        description="Named outputs of a bundle without model.py; by default the framework's own"
        " (ONNX graph outputs; label/probabilities for scikit-learn; 'output' otherwise).",
    )
    architecture: str | None = Field(
        default=None,
        description="'module:Class' in the bundle that a PyTorch state dict belongs to, for a"
        " bundle without model.py; built with architecture_config as keyword arguments.",
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
    )
    architecture_config: dict[str, Any] = Field(default_factory=dict)

    @field_validator("card_image")
    @classmethod
    def _card_image_in_bundle(cls, path: str | None) -> str | None:
        if path is None:
            return None
        parts = path.replace("\\", "/").split("/")
        if path.startswith("/") or ".." in parts or not path.strip():
            raise ValueError("a path inside the bundle, relative to its root")
        if not path.lower().endswith(CARD_IMAGE_SUFFIXES):
            raise ValueError(f"a picture file: {', '.join(CARD_IMAGE_SUFFIXES)}")
        return path

    @field_validator("inputs")
    @classmethod
    def _unique_inputs(cls, inputs: tuple[InputSpec, ...]) -> tuple[InputSpec, ...]:
        names = [spec.name for spec in inputs]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"input {repeated[0]!r} is declared more than once")
        return inputs

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, version: object) -> object:
        if isinstance(version, bool):
            raise ValueError('version must be text or a number, e.g. "1"')
        return str(version) if isinstance(version, int | float) else version

    @field_validator("name")
    @classmethod
    def _name_is_allowed(cls, name: str) -> str:
        if problem := model_name_problem(name):
            raise ValueError(f"{name[:64]!r} {problem}")
        return name

    @field_validator("version")
    @classmethod
    def _version_is_allowed(cls, version: str) -> str:
        if problem := version_problem(version):
            raise ValueError(f"{version[:64]!r} {problem}")
        return version


def describe_validation_error(source: str, error: ValidationError) -> str:
    """One line per problem, each naming the key: "modelrt.yaml: batching.max_batch_sz: ..."."""
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        if problem["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key {where!r}")
        else:
            message = str(problem["msg"]).removeprefix("Value error, ")
            lines.append(f"{source}: {where}: {message}")
    return "; ".join(lines)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; a parse error or a non-mapping is a BundleError naming the file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BundleError(f"{path.name}: cannot read: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BundleError(f"{path.name}: must be a mapping of keys to values")
    return data


def parse_config(data: dict[str, Any], source: str = "modelrt.yaml") -> BundleConfig:
    """Validate a config mapping; every problem is named in one BundleError."""
    try:
        return BundleConfig.model_validate(data)
    except ValidationError as exc:
        raise BundleError(describe_validation_error(source, exc)) from None
