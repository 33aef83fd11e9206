"""Running the real command line from tests (one process or under `accelerate launch`), the
environment those processes get, and reading what they wrote. The one place for ports and launchers."""

from __future__ import annotations

import glob
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file

# Tiny runs: small batches, frequent logs, no progress bar.
TINY = ["train.batch_size=16", "log.every=2", "log.progress=false", "log.sample_every=100",
        "train.checkpoint_every=100"]


def run_cli(args: list[str], env: dict, timeout: float = 300, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganscale", *args], env=env, cwd=cwd, timeout=timeout,
                          capture_output=True, text=True)


def cli_env(mnist_root: Path, work: Path) -> dict[str, str]:
    """Environment for CLI subprocesses: real data, offline W&B, no stray GPU or network use."""
    env = dict(os.environ)
    env.update({"GANSCALE_DATA": str(mnist_root), "WANDB_MODE": "offline", "WANDB_SILENT": "true",
                "WANDB_DIR": str(work), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"})
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_command(num_processes: int, *program: str) -> list[str]:
    """`accelerate launch` of `program` (a script, or `-m module`) with N processes; on a CPU machine
    `--multi_gpu` starts gloo processes (see the notes). Plain python for one process."""
    if num_processes == 1:
        return [sys.executable, *program]
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
            str(num_processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", str(free_port()), *program]


def accelerate_launch(args: list[str], env: dict, num_processes: int = 2, timeout: float = 300):
    """Real multi-process `ganscale ARGS`."""
    return subprocess.run(launch_command(num_processes, "-m", "ganscale", *args), env=env, timeout=timeout,
                          capture_output=True, text=True)


def wait_for(condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.2) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


def latest_checkpoint_dir(run_dir: Path) -> Path:
    from ganscale.checkpoint import latest_checkpoint

    latest = latest_checkpoint(Path(run_dir) / "checkpoints")
    assert latest is not None, f"no checkpoint in {run_dir}"
    return latest


def checkpoint_tensors(checkpoint_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    return {Path(f).stem: load_file(f) for f in sorted(glob.glob(f"{checkpoint_dir}/*.safetensors"))}


def assert_same_latest_checkpoints(run_a: Path, run_b: Path) -> None:
    """The newest checkpoints of two runs hold the same five tensor files, bit for bit."""
    a = checkpoint_tensors(latest_checkpoint_dir(run_a))
    b = checkpoint_tensors(latest_checkpoint_dir(run_b))
    assert set(a) == {"generator", "discriminator", "generator_ema", "optimizer_g", "optimizer_d"}
    for name, tensors in a.items():
        assert tensors.keys() == b[name].keys()
        for key, value in tensors.items():
            assert torch.equal(value, b[name][key]), f"{name}.{key} differs after resume"


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout[-3000:]}\n" \
                                   f"stderr:\n{result.stderr[-3000:]}"


def write_prepared(out: Path, count: int = 96, channels: int = 3, resolution: int = 28, classes: int = 4,
                   seed: int = 0):
    """A small prepared dataset whose channels differ (R bright, G mid, B dark, plus noise); returns
    (images uint8 [N, C, H, W], labels [N])."""
    import numpy as np

    from ganscale.data.prepared import PreparedWriter
    from ganscale.files import atomic_path

    gen = np.random.default_rng(seed)
    images = gen.integers(0, 60, size=(count, channels, resolution, resolution), dtype=np.uint8)
    images += (np.arange(channels, dtype=np.uint8)[::-1] * 90).reshape(1, channels, 1, 1)
    labels = np.arange(count) % classes
    with atomic_path(out, directory=True) as tmp:
        writer = PreparedWriter(tmp, channels=channels, resolution=resolution, labelled=True)
        writer.add(images[: count // 2], labels[: count // 2])
        writer.add(images[count // 2:], labels[count // 2:])
        writer.finish(source={"kind": "test"}, num_classes=classes)
    return images, labels
