"""`ganscale submit`: render the SLURM batch script (the template behind slurm/*.sbatch) and sbatch it.

    ganscale submit --nodes 2 --gpus-per-node 8 --time 01:00:00 -- --preset mnist-dcgan train.max_kimg=60

The `train` arguments after `--` are checked here (preset, config file, overrides) so that a typo
fails now, not after the job waited in the queue. `--dry-run` prints the script instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ganscale.errors import UserError

NAME = "submit"


def add_parser(subparsers) -> None:
    from ganscale.slurm import JobSpec

    d = JobSpec()
    p = subparsers.add_parser(
        NAME, help="submit a training job to SLURM (requeues itself on preemption)",
        description="Render the SLURM batch script (one node: accelerate launch; several: one srun task "
                    "per node) and submit it with sbatch; prints the job id and run directory. The job "
                    "checkpoints on USR1/TERM, requeues itself and resumes. Put `ganscale train` arguments "
                    "after --, e.g.: ganscale submit --nodes 2 --gpus-per-node 8 --time 01:00:00 -- "
                    "--preset mnist-dcgan train.max_kimg=60")
    p.add_argument("--nodes", type=int, default=d.nodes, help=f"nodes (default {d.nodes})")
    p.add_argument("--gpus-per-node", type=int, default=d.gpus_per_node,
                   help=f"GPUs per node, one training process each (default {d.gpus_per_node}; "
                        "0 = CPU nodes)")
    p.add_argument("--cpus-per-task", type=int, help="CPUs per node (default 4 per GPU, 2 without GPUs)")
    p.add_argument("--time", default=d.time,
                   help=f"time limit, e.g. 04:00:00 or 1-00:00:00 (default {d.time})")
    p.add_argument("--partition", help="SLURM partition")
    p.add_argument("--account", help="SLURM account")
    p.add_argument("--signal-lead", type=int, default=d.signal_lead,
                   help=f"seconds before the time limit at which the job checkpoints and requeues itself "
                        f"(default {d.signal_lead})")
    p.add_argument("--job-name", default=d.job_name, help=f"job name (default {d.job_name})")
    p.add_argument("--runs-dir", help="parent folder of the run directories (default: runs/ in the "
                   "directory you submit from)")
    p.add_argument("--sbatch-line", action="append", default=[], metavar="OPTION",
                   help="an extra #SBATCH option, e.g. --sbatch-line=--mem=64G (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="print the batch script, submit nothing")
    p.add_argument("train_args", nargs="*", metavar="-- TRAIN_ARGS",
                   help="`ganscale train` arguments: --preset/--config, then section.key=value overrides; "
                        "in a job array (--sbatch-line=--array=0-7), {task} becomes the task id")


def check_train_args(train_args: list[str]) -> tuple[str, ...]:
    """Validate like `ganscale train` would; return them as options first, then overrides."""
    if not train_args:
        return ()
    from ganscale.commands.train import parse_train_args
    from ganscale.config import load_config

    try:
        ns = parse_train_args(train_args)  # {task}: the array task id, filled in by the job
    except UserError as err:
        raise UserError(f"train arguments after --: {err}") from None
    if ns.run_dir:
        raise UserError("train arguments after --: leave out --run-dir: the job's run directory is "
                        "runs/slurm-<job id> (see --runs-dir)")
    if ns.dry_run:
        raise UserError("train arguments after --: --dry-run would train nothing; use submit --dry-run")
    load_config(ns.preset, ns.config, [item.replace("{task}", "0") for item in ns.overrides])
    canonical = ["--preset", ns.preset]
    if ns.config:
        canonical += ["--config", ns.config]
    return tuple(canonical + list(ns.overrides))


def run(args) -> int:
    from ganscale.slurm import JobSpec, render, sbatch_line

    runs_dir = str(Path(args.runs_dir).resolve()) if args.runs_dir else None
    spec = JobSpec(nodes=args.nodes, gpus_per_node=args.gpus_per_node, cpus_per_task=args.cpus_per_task,
                   time=args.time, partition=args.partition, account=args.account,
                   signal_lead=args.signal_lead, job_name=args.job_name, runs_dir=runs_dir,
                   sbatch_lines=tuple(args.sbatch_line), train_args=check_train_args(args.train_args))
    script = render(spec)
    if args.dry_run:
        print(script, end="")
        return 0
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise UserError("sbatch not found on PATH: submit from a SLURM login node, or print the script "
                        "with --dry-run")
    result = subprocess.run([sbatch, "--parsable"], input=script, capture_output=True, text=True)
    if result.returncode != 0:
        message = " ".join((result.stderr or result.stdout).split()) or f"exit status {result.returncode}"
        raise UserError(f"sbatch refused the job: {message}")
    job_id = result.stdout.strip().split(";")[0]
    lines = [sbatch_line(line) for line in spec.sbatch_lines]
    array = any(line.startswith(("--array", "-a")) for line in lines)
    runs = os.environ.get("GANSCALE_RUNS") or runs_dir or str(Path.cwd() / "runs")
    run_dir = os.environ.get("GANSCALE_RUN_DIR") or f"{runs}/slurm-{job_id}{'_<task id>' if array else ''}"
    print(f"submitted batch job {job_id}")
    print(f"run directory: {run_dir}")
    if not any(line.startswith(("--output", "-o")) for line in lines):
        print(f"log: {Path.cwd() / f'{spec.job_name}-{job_id}.out'}")
    print(f"watch: squeue -j {job_id}    cancel: scancel {job_id}")
    return 0
