"""Stacked MNIST's mode counter: on real stacked images (about 1000 modes, small KL), on collapsed
generators (few modes, large KL), and wired into training, `ganscale evaluate` and sharded evaluation."""

from __future__ import annotations

import json
import math
import os
import re

import numpy as np
import pytest
import torch

from ganscale.data.prepare import prepare
from ganscale.data.prepared import PreparedDataset
from ganscale.eval.mnist_classifier import load_evaluator, resize_for_evaluator
from ganscale.eval.stacked_mnist import (
    MODES,
    channel_digits,
    channel_reading,
    coverage,
    is_stacked_mnist,
    mode_ids,
    real_floor,
    score,
    stacked_mnist_metrics,
)
from tests.helpers import TINY, accelerate_launch, assert_ok, run_cli

REAL = 10_000  # enough for every mode: 1000 (1 - e^-10) expected


def pixels(dataset: PreparedDataset, count: int) -> torch.Tensor:
    return torch.from_numpy(np.array(dataset.images[:count])).float() / 127.5 - 1.0


@pytest.fixture(scope="module")
def stacked(tmp_path_factory, mnist_root):
    """A real stacked-mnist dataset at 32 pixels (`ganscale prepare stacked-mnist`), 10,000 images."""
    out = tmp_path_factory.mktemp("stacked") / "stacked-mnist-32"
    prepare("stacked-mnist", out, resolution=32, root=str(mnist_root), count=REAL, progress=False)
    return out


def test_coverage_of_exact_histograms():
    assert coverage(torch.arange(MODES).repeat(3)) == (1000, pytest.approx(0.0, abs=1e-12))
    assert coverage(torch.full((50,), 7)) == (1, pytest.approx(math.log(1000)))
    half = torch.arange(500).repeat(2)  # 500 modes, uniform over them: KL = log(1000 / 500)
    assert coverage(half) == (500, pytest.approx(math.log(2)))
    assert mode_ids(torch.tensor([[1, 2, 3], [9, 0, 9]])).tolist() == [123, 909]


def test_real_stacked_images_cover_about_every_mode_with_small_kl(stacked):
    """The floor: every mode present, KL near the 999 / (2 x 10,000) = 0.05 a uniform sample of this size
    shows, and the classifier reads the digit triple the dataset was made of."""
    assert is_stacked_mnist(stacked)
    dataset = PreparedDataset(stacked)
    modes, kl, confident = real_floor(str(stacked), dataset.info.quick_sha256, REAL)
    assert modes >= 995 and kl < 0.1 and confident > 0.95
    read = mode_ids(channel_digits(pixels(dataset, 2000), load_evaluator()))
    truth = torch.from_numpy(np.array(dataset.labels[:2000]))
    assert (read == truth).float().mean() > 0.95


def test_confident_share_falls_for_ambiguous_digits(stacked):
    """Two digits overlaid in every channel are read with low confidence, real ones with high; the
    confidence is the evaluator's own softmax for that channel."""
    evaluator = load_evaluator()
    real = pixels(PreparedDataset(stacked), 1000)
    overlaid = (real + real.roll(1, dims=0)) / 2
    sharp, blurred = score(real, evaluator)[2], score(overlaid, evaluator)[2]
    assert sharp > 0.95 and blurred < sharp - 0.2
    digits, confidence = channel_reading(real[:4], evaluator)
    alone = evaluator(resize_for_evaluator(real[3:4, 2:3])).softmax(dim=1)
    assert confidence[3, 2].item() == pytest.approx(alone.max().item(), rel=1e-5)
    assert digits[3, 2].item() == alone.argmax().item()


def test_a_collapsed_generator_covers_few_modes_with_large_kl(stacked):
    dataset = PreparedDataset(stacked)
    few = pixels(dataset, 10).repeat(300, 1, 1, 1)  # 3,000 samples of 10 images
    metrics = stacked_mnist_metrics(few, stacked, num_real=REAL)
    assert metrics["modes"] <= 10 and metrics["kl"] >= math.log(100) - 1e-9
    one = pixels(dataset, 1).repeat(500, 1, 1, 1)
    assert stacked_mnist_metrics(one, stacked, num_real=REAL)["kl"] == pytest.approx(math.log(1000))
    assert metrics["real_modes"] >= 995 and metrics["real_kl"] < 0.1  # the floor, cached
    assert metrics["real_confident_share"] > 0.95 and 0 <= metrics["confident_share"] <= 1


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_root):
    """A few steps of stacked-mnist-r3gan (narrowed) on 1,000 real stacked images, evaluated at the end."""
    tmp = tmp_path_factory.mktemp("stacked-run")
    data = tmp / "stacked-small"
    prepare("stacked-mnist", data, resolution=32, root=str(mnist_root), count=1000, progress=False)
    env = {**os.environ, "GANSCALE_DATA": str(mnist_root), "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1",
           "GANSCALE_CACHE": str(tmp / "cache")}
    run_dir = tmp / "run"
    assert_ok(run_cli(["train", "--preset", "stacked-mnist-r3gan", "--run-dir", str(run_dir), *TINY,
                       f"data.path={data}", "model.r3gan_widths=16,16,8,8", "model.r3gan_cardinality=2",
                       "train.max_kimg=0.064", "eval.every=0", "eval.at_end=true", "eval.num=500"], env))
    return run_dir, env


@pytest.mark.slow
def test_training_scores_stacked_mnist_and_keeps_the_lowest_kl(trained):
    run_dir, _ = trained
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    evals = [row for row in rows if "eval/kl" in row]
    assert len(evals) == 1 and 1 <= evals[0]["eval/modes"] <= 500
    assert evals[0]["eval/real_modes"] > 400 and "eval/fid" not in evals[0]
    best = list((run_dir / "best").iterdir())
    assert json.loads((best[0] / "state.json").read_text())["metrics"]["kl"] == evals[0]["eval/kl"]


@pytest.mark.slow
def test_evaluate_cli_and_sharded_evaluation_equal_one_process(trained):
    run_dir, env = trained
    args = ["evaluate", "--checkpoint", str(run_dir), "--num", "301", "--json"]  # 301: uneven shares
    single = run_cli(args, env)
    assert_ok(single)
    one = json.loads(single.stdout.strip().splitlines()[-1])
    assert {"modes", "kl", "confident_share", "real_modes", "real_kl", "real_confident_share"} <= set(one)
    assert one["num"] == 301
    result = accelerate_launch(args, env)
    assert_ok(result)
    sharded = json.loads(result.stdout.strip().splitlines()[-1])
    assert sharded["processes"] == 2 and one["processes"] == 1
    for key in ("modes", "kl", "confident_share", "real_modes", "real_kl", "real_confident_share"):
        assert sharded[key] == pytest.approx(one[key], rel=1e-9), key
    table = run_cli(["evaluate", "--checkpoint", str(run_dir), "--num", "301"], env)
    assert_ok(table)
    assert re.search(rf"^kl +{one['kl']:.4f}$", table.stdout, re.M), table.stdout
    assert re.search(rf"^real_confident_share +{one['real_confident_share']:.4f}$", table.stdout, re.M)
