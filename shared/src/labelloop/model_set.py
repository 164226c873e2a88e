"""The model set: the models inference serves, with the rig and input size they share.

Three slots: ``pose_main`` (every labelled point; always present), ``pose_visible`` (visible
points only) and ``head`` (head boxes). A slot may be empty: the set then uses that slot's rule
instead (:attr:`ModelSet.visibility_rule`, :attr:`ModelSet.head_rule`). Each present slot names the
Triton version that serves it, so importing one model makes a new set that keeps the other slots'
versions. The registry records one set per version (``labelloop.model_registry``); a shipped or
prepared set lives in a folder as ``model-set.json`` beside ``<slot>.onnx`` (and ``<slot>.pt``).
Everything that needs the rig or the input size reads it from the serving set.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, ValidationError

from labelloop.rig import Rig, RigError, load_rig

ModelName = Literal["pose_main", "pose_visible", "head"]
MODEL_SET: tuple[ModelName, ...] = get_args(ModelName)
"""``pose_main`` (every labeled point), ``pose_visible`` (visible points only), ``head`` (head boxes)."""
SET_FILE = "model-set.json"

Source = Literal["shipped", "trained", "imported"]
VisibilityRule = Literal["two-model", "main-confidence"]
HeadRule = Literal["detector", "face-keypoints"]


class CheckpointError(ValueError):
    """A model that cannot serve in the slot or set asked for, with the reason."""


def _rig(value: Any) -> Rig:
    if isinstance(value, Rig):
        return value
    if isinstance(value, str):
        return load_rig(value)
    if isinstance(value, dict):
        return Rig.from_dict(value)
    raise RigError(f"a rig is a name or a declaration, not {type(value).__name__}")


RigField = Annotated[Rig, BeforeValidator(_rig), PlainSerializer(lambda rig: rig.to_dict(), return_type=dict)]


class SlotModel(BaseModel):
    """One model in a set: which Triton version serves it and where it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(ge=1, description="The Triton version of this model that the set uses.")
    source: Source
    sha256: str = Field(default="", description="Of the ONNX file Triton serves.")
    origin: str = Field(default="", description="Where the weights came from (a package, a file, a parent set).")


class ModelSet(BaseModel):
    """A model set: its rig, its input size and its slots."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    rig: RigField
    imgsz: int = Field(ge=32, le=2048, multiple_of=32, description="Square input size the models were trained at.")
    models: dict[ModelName, SlotModel]

    def model_post_init(self, _: Any) -> None:
        if "pose_main" not in self.models:
            raise ValueError(f"model set {self.name!r} has no pose_main")

    @property
    def visibility_rule(self) -> VisibilityRule:
        """``two-model`` with a fine-tuned pose_visible; otherwise pose_main's confidence alone."""
        return "two-model" if "pose_visible" in self.models else "main-confidence"

    @property
    def head_rule(self) -> HeadRule:
        """``detector`` with a head model; otherwise boxes from the face keypoints."""
        return "detector" if "head" in self.models else "face-keypoints"

    def versions(self) -> dict[str, str]:
        """Model name → Triton version, for the slots present."""
        return {name: str(slot.version) for name, slot in self.models.items()}

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelSet:
        """A set from its JSON; ValueError naming what is wrong."""
        try:
            return cls.model_validate_json(text)
        except ValidationError as error:
            raise ValueError(f"not a valid model set: {error}") from error


def read_set_folder(folder: Path) -> ModelSet:
    """The set a folder holds (``model-set.json``), after checking every slot's ONNX file is there."""
    path = folder / SET_FILE
    try:
        model_set = ModelSet.from_json(path.read_bytes())
    except OSError as error:
        raise FileNotFoundError(f"{folder} holds no model set ({SET_FILE}): {error.strerror}") from error
    missing = [f"{name}.onnx" for name in model_set.models if not (folder / f"{name}.onnx").is_file()]
    if missing:
        raise FileNotFoundError(f"model set {model_set.name!r} in {folder} lacks {', '.join(missing)}")
    return model_set


def write_set_folder(folder: Path, model_set: ModelSet) -> Path:
    """Write ``model-set.json`` (the ONNX files are the caller's); returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SET_FILE
    path.write_text(model_set.to_json() + "\n")
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe(model_set: ModelSet) -> dict[str, Any]:
    """What ``labelloop models`` and the report show: rules in force and where each model came from."""
    return {
        "name": model_set.name,
        "rig": model_set.rig.name,
        "keypoints": len(model_set.rig),
        "imgsz": model_set.imgsz,
        "visibility_rule": model_set.visibility_rule,
        "head_rule": model_set.head_rule,
        "models": model_set.model_dump(mode="json")["models"],
    }
