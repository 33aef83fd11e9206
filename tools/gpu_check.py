"""The prepared GPU check (issue 14): every CUDA code path of ganscale run once, in about 8 minutes.

    tools/gpu_check.sh OUT_DIR [--cpu-dry-run] [--budget SECONDS] [--keep-runs]

Steps: (1) every preset trained for a few steps at no / bf16 / fp16 (fp16 also with R1 and with
WGAN-GP, bf16 also compiled), each checkpoint checked and resumed for one step; (2) `ganscale bench`
against the textbook loop; (3) `ganscale evaluate` of 10k samples; then a torch.profiler summary of
mnist-dcgan-plain bf16 at its best batch. Writes OUT_DIR/gpu_check.json (everything), gpu_check.md
(tables), gpu_check.log (every command's output) and gpu_check_profile.txt. Run directories stay in a
temporary folder. A failed command is recorded and the check goes on; the exit status is 1 when
anything failed, 2 for a usage mistake. `--cpu-dry-run` runs the same steps tiny on the CPU (fp16
and compile are skipped: their configs are still validated), which is what the test suite runs.
Run it through tools/gpu_check.sh: that sets PYTHONPATH, GANSCALE_DATA and WANDB_MODE.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python tools/gpu_check.py` puts tools/, not the repo, on the path
    sys.path.insert(0, str(REPO))

from tools.gpucheck import report, steps, training  # noqa: E402
from tools.gpucheck.commands import Context, Log  # noqa: E402
from tools.gpucheck.plan import Plan, cuda_plan, dry_run_plan  # noqa: E402

OUTPUTS = ("gpu_check.json", "gpu_check.md", "gpu_check.log", "gpu_check_profile.txt")
DEFAULT_BUDGET_S = {"cuda": 480.0, "cpu-dry-run": 600.0}  # the dry run's is only a safety limit


class UsageError(Exception):
    """A mistake on the command line: one line on stderr, exit status 2."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder for the four result files (created)")
    parser.add_argument("--cpu-dry-run", action="store_true", help="the same steps, tiny, on the CPU")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds for all steps (default 480; 600 with --cpu-dry-run)")
    parser.add_argument("--keep-runs", action="store_true",
                        help="keep the temporary run folder and say where")
    args = parser.parse_args(argv)
    if args.budget is not None and not args.budget > 0:
        raise UsageError(f"--budget {args.budget:g}: expected seconds > 0")
    if args.out_dir.exists() and not args.out_dir.is_dir():
        raise UsageError(f"OUT_DIR {args.out_dir}: exists and is not a folder")
    return args


def child_env(work: Path, dry_run: bool) -> dict[str, str]:
    """ganscale from this source tree, no tracker, caches in the temporary folder; CPU for the dry run."""
    env = dict(os.environ)
    path = env.get("PYTHONPATH", "")
    env.update(PYTHONPATH=f"{REPO}{os.pathsep}{path}" if path else str(REPO), PYTHONUNBUFFERED="1",
               WANDB_MODE=env.get("WANDB_MODE", "disabled"), GANSCALE_CACHE=str(work / "cache"))
    if dry_run:
        env["CUDA_VISIBLE_DEVICES"] = ""  # the rehearsal is the CPU run even on a GPU machine
    return env


def _run_step(ctx: Context, name: str, action) -> dict:
    """One step; an error in the check itself is recorded like a failed command, and the next runs."""
    try:
        return action()
    except Exception as err:  # noqa: BLE001 - a broken step must not lose the other steps' results
        ctx.fail(name, "the check itself", reason=f"{type(err).__name__}: {err}")
        ctx.log.note(f"step {name} raised:\n{traceback.format_exc()}")
        return {"status": "failed", "error": f"{type(err).__name__}: {err}"}


def run_steps(ctx: Context, plan: Plan, environment: dict, out_dir: Path) -> dict:
    """The four steps in order; each gets its share of what is left of the budget."""
    deadline, results = time.time() + plan.budget_s, {}
    names = list(plan.shares)

    def timeout(name: str) -> float:
        left = names[names.index(name):]
        return max(0.0, deadline - time.time()) * plan.shares[name] / sum(plan.shares[n] for n in left)

    gpus = len(environment.get("gpus") or [])
    results["train"] = _run_step(ctx, "train", lambda: training.run_matrix(ctx, plan, timeout("train")))
    results["bench"] = _run_step(ctx, "bench", lambda: steps.run_bench(ctx, plan, timeout("bench")))
    results["evaluate"] = _run_step(ctx, "evaluate", lambda: steps.run_evaluate(
        ctx, plan, results["train"], gpus, timeout("evaluate")))
    results["profile"] = _run_step(ctx, "profile", lambda: steps.run_profile(
        ctx, plan, results["bench"], out_dir, timeout("profile")))
    return results


def write_outputs(out_dir: Path, results: dict, log: Log) -> list[str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report.clean(results), indent=1, allow_nan=False)
    (out_dir / "gpu_check.json").write_text(text + "\n")
    (out_dir / "gpu_check.md").write_text(report.markdown(results))
    (out_dir / "gpu_check.log").write_text(log.text())
    return [name for name in OUTPUTS if (out_dir / name).is_file()]


def check(args: argparse.Namespace) -> int:
    mode = "cpu-dry-run" if args.cpu_dry_run else "cuda"
    budget = args.budget or DEFAULT_BUDGET_S[mode]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "gpu_check_profile.txt").unlink(missing_ok=True)  # never a stale one from an earlier run
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    ctx = Context(REPO, work, sys.executable, child_env(work, args.cpu_dry_run), Log(), [])
    started = time.time()
    try:
        environment = steps.environment(ctx)
        if mode == "cuda" and not environment.get("cuda_available"):
            raise UsageError("no CUDA device (torch.cuda.is_available() is False); on a CPU machine use "
                             "--cpu-dry-run")
        plan = (dry_run_plan if args.cpu_dry_run else cuda_plan)(REPO, budget)
        results = {"mode": mode, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
                   "budget_s": budget, "checks": report.CHECKED, "environment": environment,
                   "plan": dataclasses.asdict(plan), "steps": run_steps(ctx, plan, environment, args.out_dir)}
        results.update(failures=ctx.failures, wall_s=round(time.time() - started, 1),
                       targets=report.targets(results["steps"]["bench"], mode == "cuda"))
        written = write_outputs(args.out_dir, results, ctx.log)
    finally:
        if args.keep_runs:
            print(f"run folders kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("\n".join(report.summary_lines(results, [str(args.out_dir / name) for name in written])))
    return 1 if ctx.failures else 0


def main(argv: list[str] | None = None) -> int:
    try:
        return check(parse_args(argv))
    except UsageError as err:
        print(f"gpu_check: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
