"""Setting up one training run: the Accelerator, the run directory, resume, then the loop."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from ganscale.checkpoint import Checkpointer, resolve_checkpoint
from ganscale.config import Config
from ganscale.errors import UserError
from ganscale.loop import train
from ganscale.tracking import Tracker, accelerator_log_with
from ganscale.trainer import Trainer


def build_accelerator(cfg: Config):
    """CPU-only machines get Accelerator(cpu=True): under `accelerate launch --multi_gpu` that runs
    one gloo process per rank, which is how multi-process training is tested without GPUs."""
    from accelerate import Accelerator

    return Accelerator(cpu=not torch.cuda.is_available(), mixed_precision="no",
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
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "config.yaml").write_text(cfg.to_yaml())
        except OSError as err:
            raise UserError(f"--run-dir {run_dir}: cannot write there ({err.strerror})") from None
    accelerator.wait_for_everyone()
    return run_dir


def _resume_from(cfg: Config, checkpointer: Checkpointer) -> Path | None:
    resume = cfg.train.resume
    if resume == "auto":
        return checkpointer.latest()
    if resume != "none":
        return resolve_checkpoint(resume)
    if checkpointer.latest() is not None:
        raise UserError(f"{checkpointer.root} already holds checkpoints; continue with train.resume=auto "
                        "or start a fresh run with another --run-dir")
    return None


def run_training(cfg: Config, requested_run_dir: str | None) -> str:
    accelerator = build_accelerator(cfg)
    run_dir = resolve_run_dir(requested_run_dir, cfg, accelerator)
    accelerator.project_configuration.set_directories(str(run_dir))
    trainer = Trainer(cfg, accelerator)
    checkpointer = Checkpointer(run_dir, cfg.train.keep, accelerator)
    start = _resume_from(cfg, checkpointer)
    if start is not None:
        checkpointer.restore(trainer, start)
        accelerator.print(f"resumed from {start} at kimg {trainer.cur_nimg / 1000:.1f}")
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
