"""SLURM batch scripts from one template: slurm/*.sbatch and `ganscale submit` render the same file.

`ganscale/slurm_template.sbatch` holds the whole script. `render(JobSpec(...))` fills in the
#SBATCH lines, the default `train` arguments and the launch block (one node: `accelerate launch`
directly; several nodes: one `srun` task per node). The static scripts in slurm/ are the renders
of `STATIC_SCRIPTS`; a test keeps them identical to `ganscale submit --dry-run`.
This module stays light (no torch): `ganscale submit` answers at once.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from importlib import resources

from ganscale.errors import UserError

TEMPLATE = "slurm_template.sbatch"
DEFAULT_RUNS = "$SLURM_SUBMIT_DIR/runs"
MAX_SIGNAL_LEAD = 65535  # SLURM's limit for --signal=...@seconds

_NAME = re.compile(r"^[A-Za-z0-9_.+,-]+$")
_UNSAFE_PATH = re.compile(r"[$`\"'\\{}\n]")
_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


@dataclass(frozen=True)
class JobSpec:
    """What `ganscale submit` options describe; the defaults render slurm/train_single_node.sbatch."""

    nodes: int = 1
    gpus_per_node: int = 8
    cpus_per_task: int | None = None  # None: 4 per GPU (2 on nodes without GPUs)
    time: str = "04:00:00"
    partition: str | None = None
    account: str | None = None
    signal_lead: int = 120
    job_name: str = "ganscale"
    runs_dir: str | None = None  # None: $SLURM_SUBMIT_DIR/runs, expanded by the job
    sbatch_lines: tuple[str, ...] = ()
    train_args: tuple[str, ...] = field(default=())

    @property
    def cpus(self) -> int:
        if self.cpus_per_task is not None:
            return self.cpus_per_task
        return 4 * self.gpus_per_node if self.gpus_per_node else 2


STATIC_SCRIPTS = {
    "train_single_node.sbatch": JobSpec(),
    "train_multi_node.sbatch": JobSpec(nodes=2),
}


def time_seconds(text: str) -> int:
    """SLURM --time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S -> seconds (UserError if not)."""
    match = _TIME.match(text.strip())
    if not match:
        raise UserError(f"--time {text!r}: use minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS "
                        "(e.g. 04:00:00 or 1-12:00:00)")
    days, first, second, third = match.groups()
    parts = [int(p) for p in (first, second, third) if p is not None]
    if days is not None:  # D-H[:M[:S]]
        hours, minutes, seconds = (parts + [0, 0])[:3]
        if hours > 23:
            raise UserError(f"--time {text!r}: hours after the day count must be < 24")
        total = int(days) * 86400 + hours * 3600 + minutes * 60 + seconds
        checked = parts[1:]
    elif len(parts) == 1:  # M
        total, checked = parts[0] * 60, []
    elif len(parts) == 2:  # M:S
        total, checked = parts[0] * 60 + parts[1], parts[1:]
    else:  # H:M:S
        total, checked = parts[0] * 3600 + parts[1] * 60 + parts[2], parts[1:]
    if any(value > 59 for value in checked):
        raise UserError(f"--time {text!r}: minutes and seconds must be < 60")
    if total <= 0:
        raise UserError(f"--time {text!r}: the time limit must be above zero")
    return total


def sbatch_line(text: str) -> str:
    """An extra #SBATCH option, given as '--mem=64G' or '#SBATCH --mem=64G'."""
    line = text.strip()
    if line.startswith("#SBATCH"):
        line = line[len("#SBATCH"):].strip()
    if not line.startswith("-") or "\n" in line or "\r" in line:
        raise UserError(f"--sbatch-line {text!r}: expected one sbatch option such as --mem=64G or "
                        "--qos=high")
    return line


def validate(spec: JobSpec) -> None:
    if spec.nodes < 1:
        raise UserError(f"--nodes {spec.nodes}: need at least 1 node")
    if spec.gpus_per_node < 0:
        raise UserError(f"--gpus-per-node {spec.gpus_per_node}: must be >= 0 (0 = CPU nodes)")
    if spec.cpus_per_task is not None and spec.cpus_per_task < 1:
        raise UserError(f"--cpus-per-task {spec.cpus_per_task}: must be >= 1")
    limit = time_seconds(spec.time)
    if not 1 <= spec.signal_lead <= MAX_SIGNAL_LEAD:
        raise UserError(f"--signal-lead {spec.signal_lead}: seconds between 1 and {MAX_SIGNAL_LEAD}")
    if spec.signal_lead >= limit:
        raise UserError(f"--signal-lead {spec.signal_lead}: must be shorter than --time {spec.time} "
                        f"({limit} s), or the stop signal comes at once and the job requeues forever")
    for option, value in (("--partition", spec.partition), ("--account", spec.account),
                          ("--job-name", spec.job_name)):
        if value is not None and not _NAME.match(value):
            raise UserError(f"{option} {value!r}: letters, digits and _ . + , - only")
    if spec.runs_dir is not None and (not spec.runs_dir or _UNSAFE_PATH.search(spec.runs_dir)):
        raise UserError(f"--runs-dir {spec.runs_dir!r}: a plain path without quotes, $, {{ }} or backslashes")
    for line in spec.sbatch_lines:
        sbatch_line(line)


def recreate_command(spec: JobSpec) -> str:
    """The `ganscale submit ... --dry-run` command line that prints this script."""
    args = ["ganscale", "submit", "--nodes", str(spec.nodes), "--gpus-per-node", str(spec.gpus_per_node),
            "--cpus-per-task", str(spec.cpus), "--time", spec.time, "--signal-lead", str(spec.signal_lead)]
    for option, value in (("--partition", spec.partition), ("--account", spec.account),
                          ("--runs-dir", spec.runs_dir)):
        if value is not None:
            args += [option, value]
    if spec.job_name != JobSpec.job_name:
        args += ["--job-name", spec.job_name]
    for line in spec.sbatch_lines:
        args.append(f"--sbatch-line={sbatch_line(line)}")
    args.append("--dry-run")
    if spec.train_args:
        args += ["--", *spec.train_args]
    return shlex.join(args)


def _select_blocks(text: str, keep: str) -> str:
    """Keep `##[keep]` ... `##[end]` blocks, drop the other kind's; the marker lines go."""
    out, active = [], True
    for line in text.splitlines(keepends=True):
        marker = re.fullmatch(r"##\[(\w+)\]\n?", line)
        if marker:
            active = marker.group(1) in (keep, "end")
            continue
        if active:
            out.append(line)
    return "".join(out)


def render(spec: JobSpec) -> str:
    validate(spec)
    multi = spec.nodes > 1
    lines = [f"--job-name={spec.job_name}", f"--nodes={spec.nodes}", "--ntasks-per-node=1"]
    if spec.gpus_per_node:
        lines.append(f"--gpus-per-node={spec.gpus_per_node}")
    lines += [f"--cpus-per-task={spec.cpus}", f"--time={spec.time}"]
    if spec.partition:
        lines.append(f"--partition={spec.partition}")
    if spec.account:
        lines.append(f"--account={spec.account}")
    lines += [f"--signal=B:USR1@{spec.signal_lead}", "--requeue", "--open-mode=append", "--output=%x-%j.out"]
    lines += [sbatch_line(line) for line in spec.sbatch_lines]
    gpus = (f"{spec.gpus_per_node} GPUs" if spec.gpus_per_node
            else "no GPUs (processes: GANSCALE_NPROC, default 1)")
    title = (f"{spec.nodes} nodes, {gpus} each; one srun task per node, each running `accelerate launch`"
             if multi else f"one node, {gpus}; one `accelerate launch` running a process per GPU")
    values = {
        "title": title,
        "recreate": recreate_command(spec),
        "lead": str(spec.signal_lead),
        "sbatch_lines": "\n".join(f"#SBATCH {line}" for line in lines),
        "train_args": " ".join(shlex.quote(arg) for arg in spec.train_args),
        "runs_dir": spec.runs_dir or DEFAULT_RUNS,
        "procs": str(spec.gpus_per_node or 1),
    }
    template = resources.files("ganscale").joinpath(TEMPLATE).read_text()
    text = _select_blocks(template, "multi" if multi else "single")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    leftover = re.search(r"\{\{\w+\}\}", text)
    if leftover:  # a template edit that render() does not fill in
        raise RuntimeError(f"{TEMPLATE}: placeholder {leftover.group(0)} has no value")
    return text

