"""Setting up one training run: the Accelerator, the run directory, resume, then the loop."""

from __future__ import annotations

import time
from pathlib import Path

from ganscale.checkpoint import Checkpointer, resolve_checkpoint
from ganscale.config import Config
from ganscale.errors import UserError
from ganscale.files import ensure_dir, write_text
from ganscale.hooks import RunHooks
from ganscale.loop import train
from ganscale.tracking import Tracker, accelerator_log_with
from ganscale.trainer import Trainer


def build_accelerator(cfg: Config):
    """CUDA, then MPS, then the CPU (devices.py); `cpu=True` on GPU-less machines is also what runs one
    gloo process per rank under `accelerate launch --multi_gpu`."""
    from accelerate import Accelerator

    from ganscale.devices import force_cpu

    return Accelerator(cpu=force_cpu(), mixed_precision="no",
                       gradient_accumulation_steps=cfg.train.grad_accum,
                       log_with=accelerator_log_with(cfg.log.tracker))


def resolve_run_dir(requested: str | None, cfg: Config, accelerator) -> Path:
    """The default name holds the start time; rank 0 picks it so that all ranks agree."""
    from accelerate.utils import broadcast_object_list

    name = [requested or f"runs/{cfg.preset}-{time.strftime('%Y%m%d-%H%M%S')}"]
    if accelerator.num_processes > 1:
        broadcast_object_list(name, from_process=0)
    run_dir = Path(name[0])
    if accelerator.is_main_process:
        try:
            ensure_dir(run_dir)
            write_text(run_dir / "config.yaml", cfg.to_yaml())
        except UserError as err:
            raise UserError(f"--run-dir {run_dir}: {err}") from None
    accelerator.wait_for_everyone()
    return run_dir


def resume(cfg: Config, checkpointer: Checkpointer, trainer: Trainer) -> Path | None:
    """Restore `trainer` as train.resume asks; returns the checkpoint it continues from."""
    if cfg.train.resume == "auto":
        found = checkpointer.load_latest()  # reports each checkpoint it has to pass over
        if found is None:
            return None
        path, snapshot = found
    elif cfg.train.resume != "none":
        path = resolve_checkpoint(cfg.train.resume)
        snapshot = checkpointer.load(path)
    elif checkpointer.latest() is not None:
        raise UserError(f"{checkpointer.root} already holds checkpoints; continue with train.resume=auto "
                        "or start a fresh run with another --run-dir")
    else:
        return None
    trainer.restore(snapshot)
    return path


def prepare_data(cfg: Config, accelerator) -> None:
    """Make (MNIST on first use) and check the dataset before any model is built: each node's main
    process first, so one prepares the cache and the others find it done."""
    from ganscale.data import training_dataset
    from ganscale.data.prepared import PreparedDataset

    with accelerator.local_main_process_first():
        PreparedDataset(training_dataset(cfg.data, cfg.model))


def run_training(cfg: Config, requested_run_dir: str | None, hooks: RunHooks | None = None) -> str:
    hooks = hooks or RunHooks()
    accelerator = build_accelerator(cfg)
    if cfg.data.loader != "dataloader":
        prepare_data(cfg, accelerator)
    if cfg.eval.every or cfg.eval.at_end:  # weights and reference statistics, before the first step
        from ganscale.eval import prepare_evaluation

        prepare_evaluation(cfg, accelerator)
    run_dir = resolve_run_dir(requested_run_dir, cfg, accelerator)
    if hooks.on_run_dir is not None:
        hooks.on_run_dir(run_dir)
    accelerator.project_configuration.set_directories(str(run_dir))
    trainer = Trainer(cfg, accelerator, hooks=hooks)
    checkpointer = Checkpointer(run_dir, cfg.train.keep, accelerator)
    start = resume(cfg, checkpointer, trainer)
    if start is not None:
        accelerator.print(f"resumed from {start} at kimg {trainer.cur_nimg / 1000:.1f}")
    if hooks.on_trainer is not None:
        hooks.on_trainer(trainer)
    tracker = Tracker(run_dir, cfg, accelerator)
    accelerator.print(f"training {cfg.preset} on {accelerator.num_processes} process(es), "
                      f"device {accelerator.device}, global batch {trainer.global_batch}, "
                      f"precision {trainer.precision}, run dir {run_dir}")
    try:
        outcome = train(trainer, checkpointer, tracker)
    finally:
        tracker.finish()
    accelerator.print(f"{outcome}: samples in {run_dir / 'samples'}, checkpoints in {checkpointer.root}")
    return outcome
