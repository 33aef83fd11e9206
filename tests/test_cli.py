"""End to end through the real `ganscale` command line on the real MNIST."""

import numpy as np
import pytest

from tests.helpers import TINY, assert_ok, latest_checkpoint_dir, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory, mnist_root):
    import os

    run_dir = tmp_path_factory.mktemp("cli") / "dcgan"
    env = {**os.environ, "GANSCALE_DATA": str(mnist_root), "WANDB_MODE": "offline"}
    result = run_cli(["train", "--preset", "mnist-dcgan-plain", "--run-dir", str(run_dir), *TINY,
                      "train.max_kimg=0.48", "log.sample_every=0.24"], env)  # 30 steps of 16
    assert_ok(result)
    return run_dir, env, result


def test_train_writes_checkpoint_samples_and_config(dcgan_run):
    run_dir, _, result = dcgan_run
    checkpoint = latest_checkpoint_dir(run_dir)
    assert checkpoint.name == "kimg-000000.480"
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == [
        "kimg-000000.000.png", "kimg-000000.240.png", "kimg-000000.480.png"]
    assert "arch: dcgan" in (run_dir / "config.yaml").read_text()
    assert (run_dir / "metrics.jsonl").read_text().count("loss_D") == 15
    assert f"checkpoints in {run_dir / 'checkpoints'}" in result.stdout


def test_sample_npz_and_png(dcgan_run, tmp_path):
    run_dir, env, _ = dcgan_run
    assert_ok(run_cli(["sample", "--checkpoint", str(run_dir), "--num", "37", "--out",
                       str(tmp_path / "s.npz"), "--batch-size", "10"], env))
    data = np.load(tmp_path / "s.npz")
    assert data["images"].shape == (37, 28, 28) and data["images"].dtype == np.uint8
    assert "labels" not in data
    assert_ok(run_cli(["sample", "--checkpoint", str(latest_checkpoint_dir(run_dir)), "--num", "16",
                       "--out", str(tmp_path / "grid.png")], env))
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_export_then_sample_gives_the_same_images(dcgan_run, tmp_path):
    run_dir, env, _ = dcgan_run
    exported = tmp_path / "G.safetensors"
    assert_ok(run_cli(["export", "--checkpoint", str(run_dir), "--out", str(exported)], env))
    for source, out in ((run_dir, "a.npz"), (exported, "b.npz")):
        assert_ok(run_cli(["sample", "--checkpoint", str(source), "--num", "20", "--seed", "3",
                           "--out", str(tmp_path / out)], env))
    assert np.array_equal(np.load(tmp_path / "a.npz")["images"], np.load(tmp_path / "b.npz")["images"])


def test_conditional_model_draws_the_requested_digit(tmp_path, cli_env):
    run_dir = tmp_path / "cgan"
    assert_ok(run_cli(["train", "--preset", "mnist-cgan", "--run-dir", str(run_dir), *TINY,
                       "train.max_kimg=0.16"], cli_env))
    assert_ok(run_cli(["sample", "--checkpoint", str(run_dir), "--num", "12", "--digit", "3",
                       "--out", str(tmp_path / "threes.npz")], cli_env))
    data = np.load(tmp_path / "threes.npz")
    assert data["images"].shape == (12, 28, 28)
    assert data["labels"].tolist() == [3] * 12


def test_dry_run_prints_the_resolved_config(cli_env):
    result = run_cli(["train", "--preset", "mnist-mlp", "--dry-run", "train.batch_size=7"], cli_env)
    assert_ok(result)
    assert "arch: mlp" in result.stdout and "batch_size: 7" in result.stdout


def expect_user_error(result, *fragments):
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_bad_input_is_one_line_and_exit_2(dcgan_run, tmp_path, cli_env):
    run_dir, env, _ = dcgan_run
    expect_user_error(run_cli(["train", "--preset", "nope"], env), "unknown preset 'nope'")
    expect_user_error(run_cli(["train", "train.batch_size=0"], env), "train.batch_size=0", ">= 1")
    expect_user_error(run_cli(["train", "optim.lr_g=-1.0"], env), "optim.lr_g=-1.0", "> 0.0")
    expect_user_error(run_cli(["train", "optim.n_critic=0"], env), "optim.n_critic=0")
    expect_user_error(run_cli(["sample", "--checkpoint", str(run_dir), "--num", "4", "--digit", "3",
                               "--out", str(tmp_path / "x.npz")], env), "unconditional")
    expect_user_error(run_cli(["sample", "--checkpoint", str(run_dir), "--out", str(tmp_path / "x.jpg")],
                              env), "unsupported extension '.jpg'")
    expect_user_error(run_cli(["sample", "--checkpoint", str(run_dir), "--out", "/proc/nope/x.png"], env),
                      "cannot write")


def test_usage_mistakes_are_one_line_too(cli_env):
    expect_user_error(run_cli(["train", "--bogus"], cli_env), "unrecognized arguments: --bogus")
    expect_user_error(run_cli(["frob"], cli_env), "invalid choice: 'frob'", "ganscale --help")
    expect_user_error(run_cli(["sample"], cli_env), "required: --checkpoint, --out")
    expect_user_error(run_cli(["train", "train.mixed_precision=on"], cli_env),
                      "choose one of: no, bf16, fp16")


def test_missing_data_says_where_to_put_it(tmp_path, cli_env):
    env = {**cli_env, "GANSCALE_DATA": str(tmp_path / "empty")}
    result = run_cli(["train", "--run-dir", str(tmp_path / "r"), "data.download=false"], env)
    expect_user_error(result, "MNIST not found", "train-images-idx3-ubyte", "GANSCALE_DATA")
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_broken_or_foreign_checkpoints(dcgan_run, tmp_path):
    run_dir, env, _ = dcgan_run
    latest = latest_checkpoint_dir(run_dir)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes((latest / "generator_ema.safetensors").read_bytes()[:300])
    expect_user_error(run_cli(["sample", "--checkpoint", str(broken), "--out", str(tmp_path / "x.png")], env),
                      "not a readable safetensors file")
    expect_user_error(run_cli(["sample", "--checkpoint", str(latest / "generator.safetensors"),
                               "--out", str(tmp_path / "x.png")], env), "not a ganscale generator export")
    # Resuming a dcgan checkpoint into an MLP run is refused before anything is written.
    result = run_cli(["train", "--preset", "mnist-mlp", "--run-dir", str(tmp_path / "other"),
                      f"train.resume={latest}", *TINY], env)
    expect_user_error(result, "does not match")
    assert not (tmp_path / "other" / "checkpoints").exists()


def test_time_budget_stops_cleanly_with_checkpoint_and_samples(tmp_path, cli_env):
    run_dir = tmp_path / "timed"
    result = run_cli(["train", "--preset", "mnist-mlp", "--run-dir", str(run_dir), *TINY,
                      "train.max_minutes=0.05", "train.max_kimg=1000"], cli_env)
    assert_ok(result)
    from ganscale.checkpoint import read_state

    state = read_state(latest_checkpoint_dir(run_dir))
    assert 0 < state.cur_nimg < 1_000_000
    newest_grid = sorted((run_dir / "samples").iterdir())[-1]
    assert newest_grid.name == f"kimg-{state.cur_nimg // 1000:06d}.{state.cur_nimg % 1000:03d}.png"
