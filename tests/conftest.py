"""Shared fixtures: where MNIST is, and how to run the real CLI (one process or under accelerate)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def find_mnist_root() -> Path | None:
    candidates = [os.environ.get("GANSCALE_DATA", ""), str(REPO.parent / "shared" / "data")]
    for candidate in candidates:
        if candidate and (Path(candidate) / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """The real MNIST: missing data fails the run in CI (CI=true) and skips only on a dev machine."""
    root = find_mnist_root()
    if root is None:
        message = "MNIST not found: set GANSCALE_DATA to a folder holding MNIST/raw/*-ubyte"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return root


@pytest.fixture
def cli_env(mnist_root, tmp_path) -> dict[str, str]:
    """Environment for CLI subprocesses (tests/helpers.py `cli_env`)."""
    from tests.helpers import cli_env as make_cli_env

    return make_cli_env(mnist_root, tmp_path)


@pytest.fixture(scope="session")
def tiny_cgan_run(tmp_path_factory, mnist_root) -> Path:
    """One tiny conditional run with an evaluation at the end, shared by the API, Hub and ONNX tests:
    4 steps of 16 at widths 8 (seconds), enough for real checkpoints, samples and metrics.jsonl."""
    from tests.helpers import TINY, assert_ok, run_cli
    from tests.helpers import cli_env as make_cli_env

    work = tmp_path_factory.mktemp("tiny-cgan")
    run_dir = work / "run"
    assert_ok(run_cli(["train", "--preset", "mnist-cgan", "--run-dir", str(run_dir), *TINY,
                       "model.g_width=8", "model.d_width=8", "train.max_kimg=0.064", "eval.at_end=true",
                       "eval.num=200"], make_cli_env(mnist_root, work)))
    return run_dir
