"""Clarifai's config.yaml: validated as that platform does, then mapped onto a BundleConfig."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from loader.compute_info import instance_groups, memory_limit_mb, memory_mb
from loader.config import BundleConfig, InstanceGroup, ModelType, model_name_problem, read_yaml
from loader.errors import BundleError

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.yaml"

#: Model types whose config may list concepts (the platform's CONCEPTS_REQUIRED_MODEL_TYPE).
CONCEPT_MODEL_TYPES = (
    "visual-classifier",
    "visual-detector",
    "visual-segmenter",
    "text-classifier",
    "visual-keypointer",
)

#: Clarifai model_type_id -> modelrt model_type; every other type id is "other".
MODEL_TYPES: dict[str, ModelType] = {
    "visual-classifier": "classification",
    "text-classifier": "classification",
    "audio-classifier": "classification",
    "visual-detector": "object_detection",
    "visual-segmenter": "segmentation",
    "text-to-text": "text_generation",
    "multimodal-to-text": "text_generation",
    "image-to-text": "text_generation",
    "audio-to-text": "speech_recognition",
}

#: Top-level sections the platform reads; others are logged and ignored, as it ignores them.
KNOWN_SECTIONS = frozenset(
    {"model", "build_info", "inference_compute_info", "checkpoints", "concepts", "compute"}
)


class ModelSection(BaseModel):
    """``model:``. The platform parses it into its Model message, so other fields are allowed."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(min_length=1)
    model_type_id: str = Field(min_length=1)
    user_id: str | None = None
    app_id: str | None = None
    description: str = ""

    @field_validator("id")
    @classmethod
    def _no_dot(cls, value: str) -> str:
        if "." in value:
            raise ValueError("a model id cannot contain '.'")
        if problem := model_name_problem(value):  # it is the model's name here
            raise ValueError(f"{value[:64]!r} {problem}")
        return value


class ComputeInfo(BaseModel):
    """``inference_compute_info``: the fields of the platform's ComputeInfo message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_limit: str | float | None = None
    cpu_memory: str | int | None = None
    cpu_requests: str | float | None = None
    cpu_memory_requests: str | int | None = None
    num_accelerators: int = Field(default=0, ge=0)
    accelerator_type: list[str] | str | None = None
    accelerator_memory: str | int | None = None
    accelerator_topology: str | None = None

    @field_validator("cpu_memory", "cpu_memory_requests", "accelerator_memory")
    @classmethod
    def _quantity(cls, value: str | int | None) -> str | int | None:
        if value not in (None, ""):
            try:
                memory_mb(value)
            except BundleError:
                raise ValueError(f"cannot read memory quantity {value!r}") from None
        return value


class Concept(BaseModel):
    """One ``concepts`` entry: ``{id, name}``; the name is the label."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @property
    def label(self) -> str:
        return self.name or self.id


class Checkpoints(BaseModel):
    """``checkpoints``: where the platform would download weights from (modelrt never does)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: Literal["huggingface"] | None = None
    repo_id: str | None = None
    hf_token: str | None = None
    when: Literal["upload", "build", "runtime"] = "runtime"

    def describe(self) -> str:
        """'huggingface repo org/name' or the loader type."""
        return f"{self.type} repo {self.repo_id}" if self.repo_id else str(self.type)


class ClarifaiConfig(BaseModel):
    """A Clarifai-style config.yaml.

    >>> ClarifaiConfig.model_validate({"model": {"id": "m", "model_type_id": "text-to-text"}}).name
    'm'
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    model: ModelSection
    inference_compute_info: ComputeInfo | None = None
    concepts: tuple[Concept, ...] = ()
    checkpoints: Checkpoints | None = None
    build_info: dict[str, Any] | None = None

    @field_validator("checkpoints", mode="before")
    @classmethod
    def _checkpoints(cls, value: object) -> object:
        if not value:  # an empty section means none, as on the platform
            return None
        if isinstance(value, dict) and "type" not in value:
            if "repo_id" not in value:
                raise ValueError("type is required (huggingface), or a repo_id to infer it")
            value = {**value, "type": "huggingface"}
        if (
            isinstance(value, dict)
            and value.get("type") == "huggingface"
            and not value.get("repo_id")
        ):
            raise ValueError("repo_id is required for huggingface checkpoints")
        return value

    @property
    def name(self) -> str:
        return self.model.id

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(concept.label for concept in self.concepts)

    def platform_ids(self) -> dict[str, str]:
        """The ids the platform puts in every request to the model (model type, user, app)."""
        model = self.model
        return {
            "model_type_id": model.model_type_id,
            "user_id": model.user_id or "",
            "app_id": model.app_id or "",
        }

    def concept_names(self) -> dict[str, str]:
        """Concept id -> name, to name the concepts a model answers with ids only."""
        return {c.id: c.name for c in self.concepts if c.name}


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        if problem["type"] == "missing":
            lines.append(f"{CONFIG_NAME}: {where} is required")
        elif problem["type"] == "extra_forbidden":
            lines.append(f"{CONFIG_NAME}: unknown key {where!r}")
        else:
            message = str(problem["msg"]).removeprefix("Value error, ")
            lines.append(f"{CONFIG_NAME}: {where}: {message}")
    return "; ".join(lines)


def parse_clarifai_config(data: dict[str, Any]) -> ClarifaiConfig:
    """Validate a config.yaml mapping; every problem is named in one BundleError.

    >>> parse_clarifai_config({"model": {"model_type_id": "x"}})
    Traceback (most recent call last):
    loader.errors.BundleError: config.yaml: model.id is required
    """
    if not isinstance(data.get("model"), dict):
        raise BundleError(f"{CONFIG_NAME}: model is required (a mapping with id, model_type_id)")
    try:
        config = ClarifaiConfig.model_validate(data)
    except ValidationError as exc:
        raise BundleError(_describe(exc)) from None
    if config.concepts and config.model.model_type_id not in CONCEPT_MODEL_TYPES:
        raise BundleError(
            f"{CONFIG_NAME}: concepts: model type {config.model.model_type_id!r} does not take"
            f" concepts (only {', '.join(CONCEPT_MODEL_TYPES)})"
        )
    for key in sorted(set(data) - KNOWN_SECTIONS):
        logger.warning("%s: section %r is not used by modelrt; ignored", CONFIG_NAME, key)
    return config


def read_clarifai_config(root: Path) -> ClarifaiConfig:
    """Read and validate ``root/config.yaml``."""
    return parse_clarifai_config(read_yaml(root / CONFIG_NAME))


def bundle_config(config: ClarifaiConfig) -> BundleConfig:
    """The modelrt record of a Clarifai model: name, type, labels, placement.

    >>> cfg = parse_clarifai_config({"model": {"id": "m", "model_type_id": "audio-to-text"}})
    >>> bundle_config(cfg).model_type
    'speech_recognition'
    """
    info = config.inference_compute_info
    instances: tuple[InstanceGroup, ...] = (
        instance_groups(info.model_dump()) if info is not None else (InstanceGroup(),)
    )
    return BundleConfig(
        name=config.model.id,
        description=config.model.description,
        model_type=MODEL_TYPES.get(config.model.model_type_id, "other"),
        labels=config.labels,
        instances=instances,
        memory_limit_mb=memory_limit_mb(info.model_dump()) if info is not None else None,
    )
