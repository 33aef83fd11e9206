"""What a checkpoint holds, named once: the five tensor files and the JSON state, as types.

The trainer produces a `Snapshot` and consumes one; the store writes and reads them; tests import the
file names from here. Nothing else spells a file name or a state key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch

STATE_FILE = "state.json"
EXPORT_FORMAT = "ganscale-generator-v1"

Tensors = dict[str, torch.Tensor]


@dataclass
class TrainState:
    """Everything a bit-exact resume needs besides tensors; state.json is this, as JSON.

    `cur_nimg` is both how far training got and where the data stream continues (they are one number:
    the stream position is the count of images trained on). `rng` holds every rank's RNG streams in
    rank order; a resume on the same world size continues them.
    """

    step: int
    cur_nimg: int
    lr_scale: float = 1.0  # halved by each divergence rollback, on top of the lr schedule
    world_size: int = 1
    config: dict = field(default_factory=dict)
    fingerprint: str = ""
    rng: list[dict] = field(default_factory=list)
    scaler_g: dict = field(default_factory=dict)
    scaler_d: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)  # checkpoints in best/: the evaluation that chose them
    aug_p: float | None = None  # the adaptive augmentation p (ada.py); None: no augmentation when saved
    aug_sums: list[float] = field(default_factory=list)  # ada.py's sign sums and counts, all ranks'

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, tree: dict) -> TrainState:
        """Also reads state files of earlier versions, which stored the position twice
        (`cur_nimg` and `data_position`) and had no `metrics` outside best/."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {key: value for key, value in tree.items() if key in known}
        if "cur_nimg" not in values and "data_position" in tree:
            values["cur_nimg"] = tree["data_position"]
        values["step"], values["cur_nimg"] = int(values["step"]), int(values["cur_nimg"])
        return cls(**values)


def copied_to_cpu(tree):
    """A value copy of a state dict (nested dicts/lists of tensors): a snapshot must not change when
    training goes on, and the tensors it views would (parameters, optimizer moments)."""
    if isinstance(tree, torch.Tensor):
        return tree.detach().to("cpu", copy=True)
    if isinstance(tree, dict):
        return {key: copied_to_cpu(value) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(copied_to_cpu(value) for value in tree)
    return tree


def _weights():
    return field(metadata={"kind": "weights"})


def _optimizer():
    return field(metadata={"kind": "optimizer"})


@dataclass
class Snapshot:
    """A whole training state, by value: each tensor field is one `<field>.safetensors` file."""

    generator: Tensors = _weights()
    discriminator: Tensors = _weights()
    generator_ema: Tensors = _weights()
    optimizer_g: dict = _optimizer()  # a torch optimizer state_dict
    optimizer_d: dict = _optimizer()
    state: TrainState = field(default_factory=lambda: TrainState(step=0, cur_nimg=0))


def _files(kind: str) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(Snapshot) if f.metadata.get("kind") == kind)


WEIGHT_FILES = _files("weights")
OPTIMIZER_FILES = _files("optimizer")
TENSOR_FILES = WEIGHT_FILES + OPTIMIZER_FILES
