"""Step 1, the training matrix: every cell a short `ganscale train` run, then one resumed step.

Runs go several at a time: they check that a code path works, not how fast, and each one is
mostly process start-up. The resumed step is what a CLI can show about a resume on CUDA, where
training is not bitwise reproducible: the run says it resumed from the saved checkpoint, step and
position go on by exactly one step, Adam's step counters and the GradScalers go on from the saved
ones (a fresh optimizer or scaler would start over), the saved checkpoint is left unchanged, and
every tensor of the new checkpoint is finite.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tools.gpucheck import records
from tools.gpucheck.commands import Context, Outcome, run
from tools.gpucheck.datasets import data_overrides
from tools.gpucheck.plan import Cell, Plan, preset_settings

STEP = "train"


def short_run_overrides(plan: Plan, cell: Cell, batch: int) -> list[str]:
    """A run of `plan.train_steps` steps that ends normally (at max_kimg) with one checkpoint."""
    max_kimg = plan.train_steps * batch / 1000
    return [f"train.mixed_precision={cell.precision}", f"train.batch_size={batch}",
            f"train.max_kimg={max_kimg:g}", f"log.every={plan.log_every}", "log.progress=false",
            "log.tracker=none", "log.sample_every=1000", "train.checkpoint_every=1000", "train.keep=3",
            "eval.every=0", *cell.overrides]


def resume_overrides(plan: Plan, batch: int) -> list[str]:
    """Appended to the short run's: continue from its checkpoint for exactly one step, then save."""
    return ["train.resume=auto", f"train.max_kimg={2 * plan.train_steps * batch / 1000:g}",
            "train.stop_after_steps=1"]


def cell_batch(repo: Path, plan: Plan, cell: Cell) -> int:
    """The cell's own batch size, else the plan's, else the preset's."""
    preset_batch = (preset_settings(repo, cell.preset).get("train") or {}).get("batch_size", 64)
    return cell.batch or plan.train_batch or int(preset_batch)


def _dir_name(index: int, cell: Cell) -> str:
    return f"{index:02d}-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", cell.name)


def _base_record(cell: Cell) -> dict:
    return {"name": cell.name, "preset": cell.preset, "precision": cell.precision,
            "overrides": list(cell.overrides), "status": "failed"}


def _check_config(ctx: Context, cell: Cell, batch: int, plan: Plan, deadline: float) -> dict:
    """A cell this machine cannot train: its overrides still pass `train --dry-run` (no typo waits
    for the GPU)."""
    overrides = short_run_overrides(plan, cell, batch) + data_overrides(ctx, cell.preset,
                                                                        deadline - time.time())
    argv = ctx.ganscale("train", "--preset", cell.preset, "--dry-run", *overrides)
    outcome = run(argv, ctx.env, deadline - time.time(), ctx.log)
    if not outcome.ok:
        ctx.fail(STEP, f"{cell.name} (config check)", outcome)
    return {**_base_record(cell), "batch_size": batch, "status": cell.skip, "config_checked": outcome.ok}


def _train(ctx: Context, cell: Cell, argv: list[str], deadline: float) -> Outcome:
    outcome = run(argv, ctx.env, deadline - time.time(), ctx.log)
    if not outcome.ok:
        ctx.fail(STEP, cell.name, outcome)
    return outcome


def _short_run(ctx: Context, cell: Cell, run_dir: Path, overrides: list[str], deadline: float):
    """(record fields, the checkpoint written) of the short run; the checkpoint is None on failure."""
    argv = ctx.ganscale("train", "--preset", cell.preset, "--run-dir", str(run_dir), *overrides)
    outcome = _train(ctx, cell, argv, deadline)
    metrics = records.metrics_summary(records.read_metrics(run_dir / "metrics.jsonl"))
    fields = {"exit": outcome.returncode, "wall_s": round(outcome.wall_s, 1), "metrics": metrics}
    saved = records.checkpoints(run_dir)
    if not outcome.ok:
        return fields, None
    if not saved:
        ctx.fail(STEP, cell.name, reason=f"exit 0 but no checkpoint in {run_dir / 'checkpoints'}")
        return fields, None
    return fields, saved[-1]


def _resume(ctx: Context, cell: Cell, run_dir: Path, overrides: list[str], saved: Path,
            deadline: float) -> dict:
    before, digest = records.checkpoint_summary(saved), records.digest(saved)
    argv = ctx.ganscale("train", "--preset", cell.preset, "--run-dir", str(run_dir), *overrides)
    outcome = _train(ctx, cell, argv, deadline)
    latest = records.checkpoints(run_dir)[-1:]
    result = {"exit": outcome.returncode, "wall_s": round(outcome.wall_s, 1), "ok": False}
    if not outcome.ok or not latest or latest[0] == saved:
        if outcome.ok:
            ctx.fail(STEP, cell.name, reason="the resumed run wrote no new checkpoint")
        return {"checkpoint": before, "resume": result}
    after = records.checkpoint_summary(latest[0])
    checks = records.resume_checks(before, after, (digest, records.digest(saved)), outcome.stdout)
    if not checks["ok"]:
        failed = [name for name, ok in checks.items() if not ok]
        ctx.fail(STEP, cell.name, reason=f"resume checks failed: {', '.join(failed)}")
    return {"checkpoint": before, "resume": {**result, **checks, "after": after}}


def _verdict(record: dict) -> str:
    metrics, checkpoint = record.get("metrics", {}), record.get("checkpoint", {})
    good = (record.get("exit") == 0 and metrics.get("losses_finite") and checkpoint.get("weights_finite")
            and record.get("resume", {}).get("ok"))
    return "ok" if good else "failed"


def run_cell(ctx: Context, plan: Plan, index: int, cell: Cell, deadline: float) -> dict:
    batch = cell_batch(ctx.repo, plan, cell)
    if cell.skip:
        return _check_config(ctx, cell, batch, plan, deadline)
    run_dir = ctx.work / STEP / _dir_name(index, cell)
    overrides = short_run_overrides(plan, cell, batch) + data_overrides(ctx, cell.preset,
                                                                        deadline - time.time())
    record = {**_base_record(cell), "batch_size": batch, "steps": plan.train_steps}
    fields, saved = _short_run(ctx, cell, run_dir, overrides, deadline)
    record.update(fields)
    if saved is not None:
        record.update(_resume(ctx, cell, run_dir, overrides + resume_overrides(plan, batch), saved, deadline))
        record["run_dir"] = str(run_dir)
    record["status"] = _verdict(record)
    return record


def _covered(cells: tuple[Cell, ...]) -> dict[int, int]:
    """Skipped cells whose config an earlier cell already puts through ganscale -> that cell's index.

    Same preset and extra overrides, another precision or batch size: each config check is a process
    start (seconds on a small CPU), and those two settings are checked where they first occur (fp16
    in the penalty cells, every batch size the plan uses is even, all that validation asks of one).
    """
    first: dict[tuple, int] = {}
    covered = {}
    for i, cell in enumerate(cells):
        key = (cell.preset, cell.overrides)
        if cell.skip and key in first:
            covered[i] = first[key]
        first.setdefault(key, i)
    return covered


def _checked_as(cell: Cell, other: dict, batch: int) -> dict:
    """A covered cell's record: valid if the cell covering it was accepted (exit 2 is a refused config)."""
    valid = other["config_checked"] if "config_checked" in other else other.get("exit") not in (None, 2)
    return {**_base_record(cell), "batch_size": batch, "status": cell.skip, "config_checked": valid,
            "config_checked_as": other["name"]}


def run_matrix(ctx: Context, plan: Plan, timeout_s: float) -> dict:
    """Every cell, `plan.jobs` at a time; a cell still waiting when the time is up is not started."""
    deadline = time.time() + timeout_s
    threads = str(max(1, (os.cpu_count() or 1) // plan.jobs))  # parallel runs must not oversubscribe
    env = {**ctx.env, "OMP_NUM_THREADS": ctx.env.get("OMP_NUM_THREADS", threads)}
    ctx = dataclasses.replace(ctx, env=env)
    cells, same = plan.cells, _covered(plan.cells)
    # Compiled cells first: they take longest, so they must not be the last ones left running.
    order = sorted((i for i in range(len(cells)) if i not in same), key=lambda i: not cells[i].compiled)
    with ThreadPoolExecutor(max_workers=plan.jobs) as pool:
        futures = {i: pool.submit(run_cell, ctx, plan, i, cells[i], deadline) for i in order}
        done = {i: future.result() for i, future in futures.items()}
    runs = [done.get(i) or _checked_as(cells[i], done[same[i]], cell_batch(ctx.repo, plan, cells[i]))
            for i in range(len(cells))]
    trained = [r for r in runs if not r["status"].startswith("skipped")]
    status = "ok" if trained and all(r["status"] == "ok" for r in trained) else "failed"
    return {"status": status, "runs": runs, "jobs": plan.jobs, "omp_threads": ctx.env["OMP_NUM_THREADS"]}
