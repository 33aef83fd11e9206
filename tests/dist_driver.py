"""Test driver: runs `ganscale train` jobs through the real CLI entry point (`ganscale.cli.main`) and
lets every rank report what only it can see.

    accelerate launch --multi_gpu --num_processes 2 ... tests/dist_driver.py JOBS.json OUT_DIR
    python tests/dist_driver.py JOBS.json OUT_DIR          # one process

JOBS.json is a list of {"name": str, "argv": [...train arguments...]} with optional keys
"inject_nan" (see `injecting_d_loss`) and "float64" (train in float64: see `float64`).
The jobs run one after the other in the same processes (process start-up is most of a tiny run's
cost on a small CPU machine). After each job every rank writes OUT_DIR/<name>/rank<r>.json with
the job's exit status and a sha256 of each of its tensors: G, D and G_ema parameters and buffers
and both optimizers' state, plus its augmentation p and sign sums (`aug`, empty when not augmenting).
The checkpoint only holds rank 0's copy; this shows the others.

Nothing of ganscale is patched: the driver passes `ganscale.hooks.RunHooks` to the command line, whose
`on_trainer` hands it each job's Trainer and whose `d_loss` makes one rank's D loss NaN for
`inject_nan` (the real backward then spreads it through DDP's all-reduce to every rank's weights).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from pathlib import Path

import torch

from ganscale.cli import main as cli_main
from ganscale.hooks import RunHooks

CURRENT: dict = {}  # the running job: its spec, the Trainer once built, injection count


def tensor_digest(tensor: torch.Tensor) -> str:
    t = tensor.detach().to("cpu").contiguous()
    digest = hashlib.sha256(str((t.dtype, tuple(t.shape))).encode())
    digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _optimizer_tensors(optimizer) -> dict[str, torch.Tensor]:
    out = {}
    for param_id, entry in optimizer.state_dict()["state"].items():
        for key, value in entry.items():
            out[f"{param_id}.{key}"] = value if isinstance(value, torch.Tensor) else torch.tensor(value)
    return out


def rank_report(trainer) -> dict:
    groups = {
        "generator": trainer.G_plain.state_dict(),
        "discriminator": trainer.D_plain.state_dict(),
        "generator_ema": trainer.ema.state_dict(),
        "optimizer_g": _optimizer_tensors(trainer.opt_G),
        "optimizer_d": _optimizer_tensors(trainer.opt_D),
    }
    tensors = {f"{group}.{key}": tensor_digest(value)
               for group, state in groups.items() for key, value in state.items()}
    combined = {group: hashlib.sha256("".join(v for k, v in sorted(tensors.items())
                                              if k.startswith(group + ".")).encode()).hexdigest()
                for group in groups}
    buffers = [f"{group}.{name}" for group, model in (("generator", trainer.G_plain),
                                                       ("discriminator", trainer.D_plain),
                                                       ("generator_ema", trainer.ema.model))
               for name, _ in model.named_buffers()]
    labels = getattr(trainer.batches, "labels", None)  # the tensor fast path holds every image's label
    label_info = None if labels is None else {"digest": tensor_digest(labels),
                                              "distinct": int(labels.unique().numel())}
    finite = all(bool(torch.isfinite(v.float()).all()) for state in groups.values() for v in state.values()
                 if v.is_floating_point())
    return {"rank": trainer.rank, "world": trainer.world, "step": trainer.step, "cur_nimg": trainer.cur_nimg,
            "lr_G": trainer.opt_G.param_groups[0]["lr"], "lr_D": trainer.opt_D.param_groups[0]["lr"],
            "combined": combined, "tensors": tensors, "buffers": buffers, "finite": finite,
            "labels": label_info, "aug": trainer.augment.state()}


def observe(trainer) -> None:
    CURRENT["trainer"] = trainer


def injecting_d_loss(trainer, loss):
    """NaN in one rank's D loss at one step, while D's lr is above a threshold (see inject_nan)."""
    spec = CURRENT["job"].get("inject_nan")
    if (spec and trainer.rank == spec["rank"] and trainer.step == spec["step"]
            and trainer.opt_D.param_groups[0]["lr"] > spec["while_lr_d_above"]
            and CURRENT["injections"] < spec.get("max", 6)):
        CURRENT["injections"] += 1
        loss = loss * float("nan")
    return loss


HOOKS = RunHooks(on_trainer=observe, d_loss=injecting_d_loss)


@contextlib.contextmanager
def float64(enabled: bool):
    """Models, noise and images in float64 (the losses still cast logits to float32): ganscale makes
    its tensors in torch's default dtype.

    Used to compare 2 processes x batch b with 1 process x batch 2b where float32 cannot: with
    piecewise-linear losses (hinge, WGAN) some gradient entries are exactly zero in exact arithmetic
    and float32 rounding noise otherwise, and the rounding differs between a sum over 2b samples and
    the all-reduced mean of two sums over b. Adam divides by the gradient's own size, so that noise
    becomes a step of up to lr in a random direction. In float64 the noise sits below Adam's eps.
    """
    if not enabled:
        yield
        return
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def main(jobs_file: str, out_dir: str) -> int:
    for job in json.loads(Path(jobs_file).read_text()):
        CURRENT.clear()
        CURRENT.update(job=job, injections=0)
        with float64(job.get("float64", False)):
            rc = cli_main(["train", *job["argv"]], hooks=HOOKS)
        report = {"name": job["name"], "rc": rc, "injections": CURRENT["injections"]}
        trainer = CURRENT.get("trainer")
        if trainer is not None:
            report.update(rank_report(trainer))
        rank = trainer.rank if trainer is not None else 0
        target = Path(out_dir) / job["name"]
        target.mkdir(parents=True, exist_ok=True)
        (target / f"rank{rank}.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
