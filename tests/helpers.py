"""Running the real command line from tests, and reading what it wrote."""

from __future__ import annotations

import glob
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

# Tiny runs: small batches, frequent logs, no progress bar.
TINY = ["train.batch_size=16", "log.every=2", "log.progress=false", "log.sample_every=100",
        "train.checkpoint_every=100"]


def run_cli(args: list[str], env: dict, timeout: float = 300, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganscale", *args], env=env, cwd=cwd, timeout=timeout,
                          capture_output=True, text=True)


def accelerate_launch(args: list[str], env: dict, num_processes: int = 2, timeout: float = 300):
    """Real multi-process run: on a CPU machine `--multi_gpu` starts gloo processes (see notes)."""
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
               "--num_processes", str(num_processes), "--num_machines", "1", "--mixed_precision", "no",
               "--dynamo_backend", "no", "--main_process_port", str(_free_port()), "-m", "ganscale", *args]
    return subprocess.run(command, env=env, timeout=timeout, capture_output=True, text=True)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def latest_checkpoint_dir(run_dir: Path) -> Path:
    from ganscale.checkpoint import latest_checkpoint

    latest = latest_checkpoint(Path(run_dir) / "checkpoints")
    assert latest is not None, f"no checkpoint in {run_dir}"
    return latest


def checkpoint_tensors(checkpoint_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    return {Path(f).stem: load_file(f) for f in sorted(glob.glob(f"{checkpoint_dir}/*.safetensors"))}


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout[-3000:]}\n" \
                                   f"stderr:\n{result.stderr[-3000:]}"
