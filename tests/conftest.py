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
