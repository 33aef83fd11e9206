"""W&B tracking with the real wandb client in offline mode: what it wrote, and resume."""

import glob
from pathlib import Path

import pytest

from ganscale.tracking import wandb_mode
from tests.helpers import TINY, assert_ok, run_cli
from tests.wandb_records import config_keys, history_rows, read_records, run_ids

SCALARS = {"loss_D", "loss_G", "D_x", "D_G_z", "acc_real", "acc_fake", "grad_norm_D", "grad_norm_G",
           "lr_G", "lr_D", "img_per_s", "kimg"}


def offline_runs(run_dir: Path) -> list[Path]:
    return sorted(Path(p) for p in glob.glob(f"{run_dir}/wandb/offline-run-*"))


@pytest.mark.slow
def test_offline_run_holds_samples_metrics_config_and_resumes_the_same_run(tmp_path, cli_env):
    run_dir = tmp_path / "run"
    base = ["train", "--preset", "mnist-mlp", "--run-dir", str(run_dir), *TINY, "log.tracker=wandb",
            "log.wandb_mode=auto", "log.sample_every=0.16", "train.max_kimg=0.32"]
    env = {**cli_env}
    env.pop("WANDB_MODE")  # auto mode must pick offline by itself when there is no key or login
    env.pop("WANDB_API_KEY", None)
    env["HOME"] = str(tmp_path)  # no ~/.netrc login
    first = run_cli([*base, "train.stop_after_steps=10"], env)
    assert_ok(first)
    assert "wandb sync" in first.stdout
    (only_run,) = offline_runs(run_dir)
    images = sorted(p.name for p in (only_run / "files" / "media" / "images").iterdir())
    assert len(images) == 2 and all(name.startswith("samples_") for name in images)
    records = read_records(next(only_run.glob("run-*.wandb")))
    rows = history_rows(records)
    assert set().union(*rows) >= SCALARS
    assert any("samples/_type" in row and row["samples/_type"] == '"image-file"' for row in rows)
    assert {"model", "loss", "optim", "train", "data", "log"} <= config_keys(records)
    run_id = (run_dir / "wandb_id.txt").read_text().strip()
    assert run_ids(records) == {run_id}

    assert_ok(run_cli([*base, "train.resume=auto"], env))
    runs = offline_runs(run_dir)
    assert len(runs) == 2
    resumed = read_records(next(runs[1].glob("run-*.wandb")))
    assert run_ids(resumed) == {run_id}
    steps_before = [int(r["_step"]) for r in rows]
    steps_after = [int(r["_step"]) for r in history_rows(resumed)]
    assert min(steps_after) > max(steps_before), "the step axis must keep increasing after a resume"


def test_auto_mode(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert wandb_mode("auto") == "offline"
    (tmp_path / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password x\n")
    assert wandb_mode("auto") == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_mode("auto") == "disabled"
    assert wandb_mode("offline") == "offline"


@pytest.mark.slow
def test_a_failing_tracker_never_stops_training(tmp_path, cli_env):
    # An invalid W&B mode makes wandb.init raise; training must go on and finish.
    env = {**cli_env, "WANDB_MODE": "not-a-mode"}
    result = run_cli(["train", "--preset", "mnist-mlp", "--run-dir", str(tmp_path / "r"), *TINY,
                      "log.tracker=wandb", "train.max_kimg=0.064"], env)
    assert_ok(result)
    assert "training continues without it" in result.stdout
    assert (tmp_path / "r" / "checkpoints").is_dir()
