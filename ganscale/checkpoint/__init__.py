"""Pickle-free checkpoints: the snapshot schema (schema.py), its files on disk (store.py) and a
run's checkpoints over time (manager.py). Loading uses safetensors and json only."""

from ganscale.checkpoint.manager import Checkpointer
from ganscale.checkpoint.schema import (
    EXPORT_FORMAT,
    OPTIMIZER_FILES,
    STATE_FILE,
    TENSOR_FILES,
    WEIGHT_FILES,
    Snapshot,
    TrainState,
    copied_to_cpu,
)
from ganscale.checkpoint.store import (
    export_generator,
    flatten_optimizer,
    is_complete,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    load_generator_weights,
    missing_files,
    prune,
    read_state,
    read_tensors,
    resolve_checkpoint,
    scan_checkpoints,
    unflatten_optimizer,
    write_checkpoint,
)

__all__ = ["EXPORT_FORMAT", "OPTIMIZER_FILES", "STATE_FILE", "TENSOR_FILES", "WEIGHT_FILES", "Checkpointer",
           "Snapshot", "TrainState", "copied_to_cpu", "export_generator", "flatten_optimizer", "is_complete",
           "latest_checkpoint", "list_checkpoints", "load_checkpoint", "load_generator_weights",
           "missing_files", "prune",
           "read_state", "read_tensors", "resolve_checkpoint", "scan_checkpoints", "unflatten_optimizer",
           "write_checkpoint"]
