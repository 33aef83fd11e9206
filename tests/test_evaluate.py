"""`ganscale evaluate` on a trained checkpoint, and sharded evaluation == single-process evaluation."""

import json

import pytest

from tests.helpers import TINY, accelerate_launch, assert_ok, run_cli

pytestmark = pytest.mark.slow
KEYS = {"fid", "kid", "kid_std", "classifier_score", "precision", "recall", "top_class_share",
        "classes_present", "confident_share"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_root):
    import os

    tmp = tmp_path_factory.mktemp("eval")
    env = {**os.environ, "GANSCALE_DATA": str(mnist_root), "WANDB_MODE": "offline",
           "GANSCALE_CACHE": str(tmp / "cache")}
    run_dir = tmp / "cgan"
    assert_ok(run_cli(["train", "--preset", "mnist-cgan", "--run-dir", str(run_dir), *TINY,
                       "train.max_kimg=0.32", "eval.at_end=true", "eval.num=300"], env))
    return run_dir, env


def test_training_evaluates_at_the_end_and_keeps_the_best(trained):
    run_dir, _ = trained
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    evals = [row for row in rows if "eval/fid" in row]
    assert len(evals) == 1 and evals[0]["eval/fid"] > 0
    assert 0 <= evals[0]["eval/cond_accuracy"] <= 1
    assert evals[0]["kimg"] == 0.32  # where on the curve this evaluation sits
    best = list((run_dir / "best").iterdir())
    assert [p.name for p in best] == ["kimg-000000.320"]
    assert json.loads((best[0] / "state.json").read_text())["metrics"]["fid"] == evals[0]["eval/fid"]


def test_evaluate_cli_json(trained):
    run_dir, env = trained
    result = run_cli(["evaluate", "--checkpoint", str(run_dir), "--num", "400", "--json"], env)
    assert_ok(result)
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert KEYS | {"cond_accuracy", "num"} <= set(metrics)
    assert metrics["num"] == 400 and metrics["classes_present"] <= 10
    table = run_cli(["evaluate", "--checkpoint", str(run_dir), "--num", "400"], env)
    assert_ok(table)
    assert f"fid               {metrics['fid']:.4f}" in table.stdout
    bad = run_cli(["evaluate", "--checkpoint", str(run_dir), "--num", "1"], env)
    assert bad.returncode == 2 and "--num 1" in bad.stderr


def test_sharded_evaluation_equals_one_process(trained):
    run_dir, env = trained
    args = ["evaluate", "--checkpoint", str(run_dir), "--num", "301", "--json"]  # 301: uneven shares
    single = json.loads(run_cli(args, env).stdout.strip().splitlines()[-1])
    result = accelerate_launch(args, env)
    assert_ok(result)
    sharded = json.loads(result.stdout.strip().splitlines()[-1])
    assert sharded["processes"] == 2 and single["processes"] == 1
    for key in KEYS | {"cond_accuracy"}:
        assert sharded[key] == pytest.approx(single[key], rel=1e-6, abs=1e-9), key
