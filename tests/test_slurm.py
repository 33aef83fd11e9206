"""SLURM: the sbatch scripts, `ganscale submit`, and preemption -> checkpoint -> requeue -> resume.

The `slurm` tests run the real scripts in slurm/ on a real single-node SLURM (2 CPUs, no GPUs)
started once per session by ../shared/tools/slurm/slurm-up.sh; resource lines are overridden on the
sbatch command line (command-line options win over #SBATCH lines) and GANSCALE_NPROC picks the
number of CPU processes. Under CI=true a cluster that does not come up fails the run; elsewhere
those tests skip. The other tests need only bash: the rendered scripts run against fake srun,
scontrol and accelerate commands that record what they were given.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganscale.checkpoint import read_state
from ganscale.cli import main
from ganscale.slurm import STATIC_SCRIPTS, JobSpec, render, time_seconds
from tests.helpers import accelerate_launch, assert_ok, checkpoint_tensors, latest_checkpoint_dir, wait_for
from tests.wandb_records import read_records, run_ids

REPO = Path(__file__).resolve().parents[1]
SLURM_DIR = REPO / "slurm"
SLURM_UP = REPO.parent / "shared" / "tools" / "slurm" / "slurm-up.sh"
IN_CI = os.environ.get("CI", "").lower() == "true"
TINY_JOB = ["--preset", "mnist-mlp", "train.batch_size=16", "log.every=2", "log.progress=false"]
CPU_RESOURCES = ["--gpus-per-node=0", "--time=00:10:00"]  # the node has 2 CPUs and no GPUs
FINAL_STATES = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY")


# ------------------------------------------------------------------------------------ rendering


def _submit(capsys, *args: str) -> tuple[int, str, str]:
    status = main(["submit", *args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("name", sorted(STATIC_SCRIPTS))
def test_static_scripts_are_the_template_rendered_with_defaults(name, capsys):
    """slurm/*.sbatch == `ganscale submit --dry-run` for the same options (one template)."""
    text = (SLURM_DIR / name).read_text()
    assert text == render(STATIC_SCRIPTS[name])
    default_args = [] if name == "train_single_node.sbatch" else ["--nodes", "2"]
    status, out, _ = _submit(capsys, *default_args, "--dry-run")
    regenerate = f"ganscale submit {' '.join(default_args)} --dry-run > slurm/{name}"
    assert status == 0 and out == text, f"template and static script differ; regenerate: {regenerate}"
    # The file names the command that prints it; that command does print it.
    recreate = re.search(r"^#   (ganscale submit .*)$", text, re.M).group(1)
    status, out, _ = _submit(capsys, *shlex.split(recreate)[2:])
    assert status == 0 and out == text


def test_static_scripts_have_the_requeue_settings():
    for name in STATIC_SCRIPTS:
        text = (SLURM_DIR / name).read_text()
        for line in ("#SBATCH --requeue", "#SBATCH --open-mode=append", "#SBATCH --signal=B:USR1@120",
                     "#SBATCH --ntasks-per-node=1"):
            assert line in text.splitlines(), (name, line)
        assert "train.resume=auto" in text and "scontrol requeue" in text
        assert subprocess.run(["bash", "-n", str(SLURM_DIR / name)]).returncode == 0


def test_submit_renders_options_and_train_args(capsys):
    status, out, _ = _submit(capsys, "--nodes", "3", "--gpus-per-node", "4", "--time", "1-12:00:00",
                             "--partition", "gpu", "--account", "proj42", "--signal-lead", "300",
                             "--sbatch-line=--mem=64G", "--sbatch-line", "#SBATCH --qos=high", "--dry-run",
                             "--", "train.max_kimg=5", "--preset", "mnist-mlp")
    assert status == 0
    sbatch = [line for line in out.splitlines() if line.startswith("#SBATCH")]
    assert sbatch == ["#SBATCH --job-name=ganscale", "#SBATCH --nodes=3", "#SBATCH --ntasks-per-node=1",
                      "#SBATCH --gpus-per-node=4", "#SBATCH --cpus-per-task=16", "#SBATCH --time=1-12:00:00",
                      "#SBATCH --partition=gpu", "#SBATCH --account=proj42", "#SBATCH --signal=B:USR1@300",
                      "#SBATCH --requeue", "#SBATCH --open-mode=append", "#SBATCH --output=%x-%j.out",
                      "#SBATCH --mem=64G", "#SBATCH --qos=high"]
    # train args are validated and put in an order `ganscale train` accepts with train.resume=auto last
    assert "TRAIN_ARGS=(--preset mnist-mlp train.max_kimg=5)" in out
    assert "srun" in out and "--machine_rank" in out
    status, out, _ = _submit(capsys, "--gpus-per-node", "0", "--dry-run")
    sbatch = [line for line in out.splitlines() if line.startswith("#SBATCH")]
    assert status == 0 and "#SBATCH --cpus-per-task=2" in sbatch
    assert not any("gpus" in line for line in sbatch) and "srun --cpus-per-task" not in out


@pytest.mark.parametrize("args, message", [
    (["--nodes", "0"], "--nodes 0: need at least 1 node"),
    (["--gpus-per-node", "-1"], "--gpus-per-node -1"),
    (["--cpus-per-task", "0"], "--cpus-per-task 0"),
    (["--time", "abc"], "--time 'abc': use minutes"),
    (["--time", "1:75:00"], "minutes and seconds must be < 60"),
    (["--time", "0"], "above zero"),
    (["--time", "2-25"], "hours after the day count"),
    (["--time", "00:05:00", "--signal-lead", "300"], "must be shorter than --time"),
    (["--signal-lead", "0"], "--signal-lead 0"),
    (["--partition", "gpu a"], "--partition 'gpu a'"),
    (["--sbatch-line", "mem=64G"], "--sbatch-line 'mem=64G'"),
    (["--runs-dir", "/tmp/$HOME"], "--runs-dir"),
    (["--", "--preset", "nope"], "unknown preset 'nope'"),
    (["--", "train.max_kimg=-1"], "train.max_kimg=-1"),
    (["--", "--run-dir", "x"], "leave out --run-dir"),
    (["--", "--bogus"], "train arguments after --"),
    (["--", "--dry-run"], "--dry-run would train nothing"),
])
def test_submit_rejects_bad_values_in_one_line(args, message, capsys):
    status, out, err = _submit(capsys, "--dry-run", *args)
    assert status == 2 and out == ""
    assert err.startswith("ganscale submit: error: ") and err.count("\n") == 1 and message in err, err


def test_submit_without_sbatch_says_so(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    status, _, err = _submit(capsys, "--time", "10")
    assert status == 2 and "sbatch not found on PATH" in err and err.count("\n") == 1


@pytest.mark.parametrize("text, seconds", [("90", 5400), ("10:30", 630), ("04:00:00", 14400),
                                           ("2-0", 172800), ("1-12:30", 131400), ("1-00:00:05", 86405),
                                           ("100:00:00", 360000)])
def test_time_formats(text, seconds):
    assert time_seconds(text) == seconds


# ------------------------------------------------ the scripts' logic, with fake SLURM commands


FAKE_SRUN = """#!/bin/bash
# two "nodes": run the task once per node with its own SLURM_NODEID / SLURM_PROCID
echo "$*" > "$FAKE_LOG/srun.args"
while [ "${1#-}" != "$1" ]; do shift; done
for n in 0 1; do SLURM_NODEID=$n SLURM_PROCID=$n SLURM_LOCALID=0 "$@" & done
wait
"""
FAKE_SCONTROL = """#!/bin/bash
if [ "$1 $2" = "show hostnames" ]; then printf 'gpu-a017\\ngpu-a018\\n'; exit 0; fi
echo "$*" >> "$FAKE_LOG/scontrol.calls"
"""
FAKE_SQUEUE = """#!/bin/bash
echo "${FAKE_STATE:-RUNNING}"
"""
FAKE_ACCELERATE = """#!/bin/bash
echo "$*" > "$FAKE_LOG/accelerate.${SLURM_NODEID:-single}"
exit "${FAKE_STATUS:-0}"
"""


def _install_fakes(tmp_path, **scripts: str) -> tuple[Path, Path]:
    """Fake commands in tmp_path/bin; they record their calls in tmp_path/calls."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir(exist_ok=True)
    log.mkdir(exist_ok=True)
    scripts = {"srun": FAKE_SRUN, "scontrol": FAKE_SCONTROL, "squeue": FAKE_SQUEUE,
               "accelerate": FAKE_ACCELERATE, **scripts}
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return bin_dir, log


def _run_with_fakes(tmp_path, script: str, status: int = 0, **env_extra):
    """Run a rendered script as SLURM would (2 fake nodes); returns (result, folder of recorded calls)."""
    bin_dir, log = _install_fakes(tmp_path)
    (tmp_path / "job.sbatch").write_text(script)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_LOG": str(log), "FAKE_STATUS": str(status),
           "SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "ganscale", "SLURM_NNODES": "2",
           "SLURM_JOB_NODELIST": "gpu-a[017-018]", "SLURM_GPUS_ON_NODE": "4", "SLURM_CPUS_PER_TASK": "16",
           "SLURM_SUBMIT_DIR": str(tmp_path), **env_extra}
    result = subprocess.run(["bash", str(tmp_path / "job.sbatch")], env=env, capture_output=True, text=True,
                            timeout=60)
    return result, log


def test_multi_node_render_gives_each_node_its_rank_and_the_totals(tmp_path):
    script = render(JobSpec(nodes=2, gpus_per_node=4, train_args=("--preset", "mnist-mlp")))
    assert "--machine_rank \\$$RANK_VAR" in script  # expanded by each node, not by the batch shell
    result, log = _run_with_fakes(tmp_path, script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "--cpus-per-task=16" in (log / "srun.args").read_text()
    run_dir = tmp_path / "runs" / "slurm-4242"
    for rank in (0, 1):
        args = (log / f"accelerate.{rank}").read_text().split()
        assert args[:12] == ["launch", "--multi_gpu", "--num_machines", "2", "--num_processes", "8",
                             "--machine_rank", str(rank), "--main_process_ip", "gpu-a017",
                             "--main_process_port", str(20000 + 4242)]
        assert args[-8:] == ["-m", "ganscale", "train", "--run-dir", str(run_dir), "--preset", "mnist-mlp",
                             "train.resume=auto"]
    assert "SLURM_RESTART_COUNT=0" in result.stdout and "done" in result.stdout


def test_multi_node_machine_rank_variable_can_be_overridden(tmp_path):
    script = render(JobSpec(nodes=2, gpus_per_node=4))
    result, log = _run_with_fakes(tmp_path, script, GANSCALE_MACHINE_RANK_VAR="SLURM_PROCID",
                                  GANSCALE_NUM_MACHINES="2", GANSCALE_NPROC="1")
    assert result.returncode == 0, result.stderr
    args = (log / "accelerate.1").read_text().split()
    assert args[args.index("--machine_rank") + 1] == "1" and args[args.index("--num_processes") + 1] == "2"


def test_single_node_render_launches_one_process_per_gpu(tmp_path):
    result, log = _run_with_fakes(tmp_path, render(JobSpec(gpus_per_node=4)), SLURM_NNODES="1")
    assert result.returncode == 0, result.stderr
    args = (log / "accelerate.single").read_text().split()
    assert args[:7] == ["launch", "--num_processes", "4", "--num_machines", "1", "--main_process_port",
                        "24242"]
    assert "--multi_gpu" in args and args[-1] == "train.resume=auto" and not (log / "srun.args").exists()


def test_array_task_gets_its_own_run_dir_and_task_id(tmp_path, capsys):
    status, script, _ = _submit(capsys, "--gpus-per-node", "2", "--sbatch-line=--array=0-7", "--dry-run",
                                "--", "--preset", "mnist-mlp", "train.seed={task}")
    assert status == 0 and "#SBATCH --array=0-7" in script
    result, log = _run_with_fakes(tmp_path, script, SLURM_NNODES="1", SLURM_ARRAY_JOB_ID="4240",
                                  SLURM_ARRAY_TASK_ID="3")
    assert result.returncode == 0, result.stderr
    args = (log / "accelerate.single").read_text().split()
    assert args[-6:] == ["--run-dir", str(tmp_path / "runs" / "slurm-4240_3"), "--preset", "mnist-mlp",
                         "train.seed=3", "train.resume=auto"]


@pytest.mark.parametrize("status, restarts, state, requeued, job_status", [
    (0, "0", "RUNNING", False, 0),        # finished
    (75, "0", "RUNNING", True, 75),       # checkpointed after a stop request: requeue
    (75, "20", "RUNNING", False, 75),     # ... but not forever (GANSCALE_MAX_REQUEUES, default 20)
    (75, "0", "COMPLETING", False, 75),   # scancel: the user's cancel stands
    (3, "0", "RUNNING", False, 3),        # diverged: a requeue would not help
    (1, "0", "RUNNING", False, 1),        # crashed without a stop request
])
def test_exit_status_decides_the_requeue(tmp_path, status, restarts, state, requeued, job_status):
    result, log = _run_with_fakes(tmp_path, render(JobSpec(gpus_per_node=2)), status=status,
                                  SLURM_NNODES="1", SLURM_RESTART_COUNT=restarts, FAKE_STATE=state)
    assert result.returncode == job_status, result.stdout + result.stderr
    calls = (log / "scontrol.calls").read_text() if (log / "scontrol.calls").exists() else ""
    assert ("requeue 4242" in calls) == requeued
    assert f"SLURM_RESTART_COUNT={restarts}" in result.stdout


FAKE_ACCELERATE_WITH_WORKER = """#!/bin/bash
# like accelerate launch: one training process; exit 1 if it fails (torchelastic's ChildFailedError)
echo "$$" > "$FAKE_LOG/launcher.pid"
"$FAKE_PYTHON" -c '
import os, signal, sys, time
log = os.environ["FAKE_LOG"]
def stop(signum, frame):
    open(f"{log}/worker.signal", "w").write(signal.Signals(signum).name)
    sys.exit(75)
signal.signal(signal.SIGUSR1, stop)
signal.signal(signal.SIGTERM, stop)
open(f"{log}/worker.ready", "w").close()
time.sleep(60)
' &
wait $! || exit 1
"""


@pytest.mark.parametrize("signal_name", ["TERM", "USR1"])
def test_signal_reaches_the_training_process_as_usr1_and_the_job_requeues(tmp_path, signal_name):
    """The batch shell traps the signal, sends USR1 to the launcher's children (not the launcher,
    which ignores USR1), waits again, and requeues although the launcher exits 1."""
    bin_dir, log = _install_fakes(tmp_path, accelerate=FAKE_ACCELERATE_WITH_WORKER)
    script = tmp_path / "job.sbatch"
    script.write_text(render(JobSpec(gpus_per_node=1)))
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_LOG": str(log), "FAKE_PYTHON": sys.executable,
           "SLURM_JOB_ID": "4242", "SLURM_NNODES": "1", "SLURM_SUBMIT_DIR": str(tmp_path)}
    job = subprocess.Popen(["bash", str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    deadline = time.time() + 30
    while not (log / "worker.ready").exists() and time.time() < deadline:
        time.sleep(0.05)
    assert (log / "worker.ready").exists()
    job.send_signal(getattr(signal, f"SIG{signal_name}"))
    out, _ = job.communicate(timeout=30)
    assert (log / "worker.signal").read_text() == "SIGUSR1", out
    assert job.returncode == 75, out
    assert (log / "scontrol.calls").read_text().split() == ["requeue", "4242"]
    assert f"signal {signal_name} received: sent USR1 to the training processes" in out
    assert f"training exited with status 1 after signal {signal_name}" in out


# ------------------------------------------------------------------------- the real cluster


@pytest.fixture(scope="session")
def slurm_env() -> dict[str, str]:
    """Start the local cluster once (idempotent); CI fails if it cannot, a dev machine skips."""
    def unavailable(message: str):
        if IN_CI:
            pytest.fail(f"SLURM test cluster: {message}")
        pytest.skip(f"SLURM test cluster: {message}")

    if not SLURM_UP.is_file():
        unavailable(f"{SLURM_UP} not found")
    if os.geteuid() != 0:
        unavailable("slurm-up.sh needs root")
    try:
        up = subprocess.run(["bash", str(SLURM_UP)], capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        unavailable("slurm-up.sh did not finish in 600 s")
    if up.returncode != 0:
        unavailable(f"slurm-up.sh failed:\n{up.stdout[-2000:]}\n{up.stderr[-2000:]}")
    base = Path(os.environ.get("SLURM_TEST_BASE", "/tmp/slurmtest"))
    match = re.search(r"SLURM_CONF=(\S+)", (base / "env.sh").read_text())
    return {"SLURM_CONF": match.group(1)}


@pytest.fixture
def job_env(slurm_env, cli_env) -> dict[str, str]:
    env = {**cli_env, **slurm_env}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"  # accelerate, ganscale of this venv
    for key in [k for k in env if k.startswith(("GANSCALE_", "SLURM_")) and k != "SLURM_CONF"]:
        if key != "GANSCALE_DATA":
            env.pop(key)
    return env


class Jobs:
    """Submits and waits for jobs; cancels whatever is left when the test ends."""

    def __init__(self, env: dict[str, str], cwd: Path):
        self.env, self.cwd, self.ids = env, cwd, []

    def sbatch(self, *args: str, env_extra: dict | None = None) -> str:
        result = subprocess.run(["sbatch", "--parsable", *args], env={**self.env, **(env_extra or {})},
                                cwd=self.cwd, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return self.track(result.stdout.strip().split(";")[0])

    def track(self, job_id: str) -> str:
        self.ids.append(job_id)
        return job_id

    def info(self, job_id: str) -> dict[str, str]:
        out = subprocess.run(["scontrol", "show", "job", "-o", job_id], env=self.env, capture_output=True,
                             text=True).stdout
        return dict(item.split("=", 1) for item in out.split() if "=" in item)

    def wait(self, job_id: str, log: Path, timeout: float) -> dict[str, str]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            info = self.info(job_id)
            if info.get("JobState") in FINAL_STATES:
                return info
            time.sleep(1)
        text = log.read_text() if log.exists() else "(no log)"
        state = self.info(job_id).get("JobState")
        pytest.fail(f"job {job_id} still {state} after {timeout} s; log:\n{text[-4000:]}")

    def cancel_all(self) -> None:
        for job_id in self.ids:
            subprocess.run(["scancel", job_id], env=self.env, capture_output=True)


@pytest.fixture
def jobs(job_env, tmp_path):
    tracker = Jobs(job_env, tmp_path)
    yield tracker
    tracker.cancel_all()


def _ganscale_lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.startswith("[ganscale-slurm ")]


def _assert_completed(info: dict[str, str], log: Path) -> None:
    assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", \
        f"{info.get('JobState')} {info.get('ExitCode')}\n{log.read_text()[-4000:]}"


@pytest.mark.slurm
@pytest.mark.slow
def test_single_node_script_trains_on_two_cpu_processes(jobs, tmp_path):
    log = tmp_path / "job.out"
    job = jobs.sbatch(*CPU_RESOURCES, "--cpus-per-task=2", f"--output={log}",
                      str(SLURM_DIR / "train_single_node.sbatch"), *TINY_JOB, "train.max_kimg=1",
                      env_extra={"GANSCALE_NPROC": "2"})
    _assert_completed(jobs.wait(job, log, timeout=240), log)
    run_dir = tmp_path / "runs" / f"slurm-{job}"
    checkpoint = latest_checkpoint_dir(run_dir)
    assert checkpoint.name == "kimg-000001.024"  # 32 steps of 2 x 16 images
    assert set(checkpoint_tensors(checkpoint)) == {"generator", "discriminator", "generator_ema",
                                                   "optimizer_g", "optimizer_d"}
    assert sorted(p.name for p in (run_dir / "samples").glob("*.png")) == ["kimg-000000.000.png",
                                                                           "kimg-000001.024.png"]
    text = log.read_text()
    assert "on 2 process(es)" in text and "SLURM_RESTART_COUNT=0" in text
    assert _ganscale_lines(log)[-1].endswith(f"done: run dir {run_dir}")


def wait_until_training(run_dir: Path, log: Path, timeout: float = 180) -> None:
    """Block until the job has logged its first metrics (so a signal reaches a running trainer)."""
    metrics = run_dir / "metrics.jsonl"
    deadline = time.time() + timeout
    while not (metrics.is_file() and metrics.stat().st_size) and time.time() < deadline:
        time.sleep(0.5)
    assert metrics.is_file(), f"training did not start; log:\n{log.read_text() if log.exists() else ''}"


@pytest.mark.slurm
@pytest.mark.slow
def test_preempted_job_requeues_itself_and_ends_bitwise_like_a_straight_run(jobs, job_env, tmp_path):
    """USR1 to the batch shell mid-training -> checkpoint, exit 75, requeue, resume -> same weights
    (and the same W&B run, offline here)."""
    log = tmp_path / "job.out"
    args = [*TINY_JOB, "train.max_kimg=2"]
    job = jobs.sbatch(*CPU_RESOURCES, "--cpus-per-task=2", f"--output={log}",
                      str(SLURM_DIR / "train_single_node.sbatch"), *args, "log.tracker=wandb",
                      env_extra={"GANSCALE_NPROC": "2"})
    wait_until_training(tmp_path / "runs" / f"slurm-{job}", log)
    subprocess.run(["scancel", "--signal=USR1", "--batch", job], env=job_env, check=True)
    # The same run straight through (2 processes, like the job), while the job waits to be requeued.
    reference = tmp_path / "straight"
    straight = accelerate_launch(["train", "--run-dir", str(reference), *args], job_env, num_processes=2)
    assert_ok(straight)
    info = jobs.wait(job, log, timeout=300)
    _assert_completed(info, log)
    assert info["Restarts"] == "1"

    lines = _ganscale_lines(log)
    events = ["start: job", "signal USR1 received", "training exited with status",
              "requeue: scontrol requeue", "start: job", "training exited with status 0", "done: run dir"]
    position = 0
    for event in events:  # in this order
        position = next((i for i in range(position, len(lines)) if event in lines[i]), None)
        assert position is not None, f"{event!r} missing or out of order:\n" + "\n".join(lines)
        position += 1
    starts = [line for line in lines if "start: job" in line]
    assert "SLURM_RESTART_COUNT=0" in starts[0] and "SLURM_RESTART_COUNT=1" in starts[1]
    resumed = re.search(r"resumed from \S+ at kimg ([\d.]+)", log.read_text())
    assert resumed and 0 < float(resumed.group(1)) < 2, "the stop did not come mid-training"

    run_dir = tmp_path / "runs" / f"slurm-{job}"
    wandb_runs = sorted(run_dir.glob("wandb/offline-run-*"))
    assert len(wandb_runs) == 2  # one per start, both the same W&B run
    run_id = (run_dir / "wandb_id.txt").read_text().strip()
    for wandb_run in wandb_runs:
        assert run_ids(read_records(next(wandb_run.glob("run-*.wandb")))) == {run_id}

    final, expected = latest_checkpoint_dir(run_dir), latest_checkpoint_dir(reference)
    assert final.name == expected.name == "kimg-000002.016"
    got, want = checkpoint_tensors(final), checkpoint_tensors(expected)
    assert set(got) == set(want)
    for name in want:  # G, D, G_ema and both optimizers
        assert got[name].keys() == want[name].keys()
        for key, tensor in want[name].items():
            assert torch.equal(got[name][key], tensor), f"{name}.{key} differs from the straight run"


@pytest.mark.slurm
@pytest.mark.slow
def test_ganscale_submit_runs_on_the_local_cluster(jobs, job_env, tmp_path):
    submit = ["submit", "--gpus-per-node", "0", "--cpus-per-task", "1", "--time", "00:10:00",
              "--signal-lead", "60", "--", *TINY_JOB, "train.max_kimg=0.5"]
    result = subprocess.run([sys.executable, "-m", "ganscale", *submit], env=job_env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    job = jobs.track(re.search(r"^submitted batch job (\d+)$", result.stdout, re.M).group(1))
    run_dir = Path(re.search(r"^run directory: (.+)$", result.stdout, re.M).group(1))
    log = Path(re.search(r"^log: (.+)$", result.stdout, re.M).group(1))
    assert run_dir == tmp_path / "runs" / f"slurm-{job}" and log == tmp_path / f"ganscale-{job}.out"
    _assert_completed(jobs.wait(job, log, timeout=240), log)
    assert latest_checkpoint_dir(run_dir).name == "kimg-000000.512"
    assert "on 1 process(es)" in log.read_text()


@pytest.mark.slurm
@pytest.mark.slow
def test_multi_node_script_two_machines_as_two_tasks_join_one_process_group(jobs, tmp_path):
    """The multi-node srun line with 2 tasks on this one node: machine ranks 0 and 1 (SLURM_PROCID),
    one process each, rendezvous at the first host: one gloo group of 2 that trains to the end."""
    log = tmp_path / "job.out"
    job = jobs.sbatch(*CPU_RESOURCES, "--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1",
                      f"--output={log}", str(SLURM_DIR / "train_multi_node.sbatch"), *TINY_JOB,
                      "train.max_kimg=1",
                      env_extra={"GANSCALE_NPROC": "1", "GANSCALE_NUM_MACHINES": "2",
                                 "GANSCALE_MACHINE_RANK_VAR": "SLURM_PROCID"})
    _assert_completed(jobs.wait(job, log, timeout=240), log)
    text = log.read_text()
    assert "--num_machines 2 --num_processes 2 --machine_rank $SLURM_PROCID" in text
    assert text.count("on 2 process(es)") == 2  # each machine's local main process: world size 2
    for task in (0, 1):
        assert f"node 0 task {task}: accelerate launch exited with status 0" in text
    assert latest_checkpoint_dir(tmp_path / "runs" / f"slurm-{job}").name == "kimg-000001.024"


@pytest.mark.slurm
@pytest.mark.slow
def test_scancel_stops_for_good_after_a_checkpoint(jobs, job_env, tmp_path):
    """scancel sends TERM: the training checkpoints (TERM is forwarded as USR1), and the script does
    not requeue a job SLURM is cancelling (that would undo the cancel)."""
    log = tmp_path / "job.out"
    job = jobs.sbatch(*CPU_RESOURCES, "--cpus-per-task=1", f"--output={log}",
                      str(SLURM_DIR / "train_single_node.sbatch"), *TINY_JOB, "train.max_kimg=2",
                      env_extra={"GANSCALE_NPROC": "1"})
    wait_until_training(tmp_path / "runs" / f"slurm-{job}", log)
    subprocess.run(["scancel", job], env=job_env, check=True)
    jobs.wait(job, log, timeout=60)
    # CANCELLED comes while the batch script is still finishing: wait for its last word on requeueing.
    wait_for(lambda: log.exists() and any(word in _ganscale_lines(log)[-1] for word in
                                          ("not requeueing", "requeue: scontrol")), 60, "the script's end")
    info = jobs.info(job)
    assert info["JobState"] == "CANCELLED" and info["Restarts"] == "0", log.read_text()[-3000:]
    text = log.read_text()
    assert "signal TERM received: sent USR1 to the training processes" in text
    assert "not requeueing: the job is COMPLETING" in text and "requeue: scontrol" not in text
    assert re.search(r"^preempted: ", text, re.M)
    assert 0 < read_state(latest_checkpoint_dir(tmp_path / "runs" / f"slurm-{job}")).cur_nimg < 2000
