"""`ganscale bench`: the command runs end to end and reports what it promises (no timing assertions)."""

import json
import os
import sys

import pytest

from ganscale.bench import Case, Result, Runner, format_table, measure_group
from tests.helpers import assert_ok, run_cli, write_prepared

TINY_BENCH = ["--steps", "2", "--warmup", "1", "--repeats", "1"]


@pytest.mark.slow
def test_bench_writes_json_with_speedup(cli_env, tmp_path):
    out = tmp_path / "bench.json"
    result = run_cli(["bench", "--preset", "mnist-dcgan-plain", "--batch-size", "8",
                      "--data", "tensor", "dataloader", *TINY_BENCH, "--json", str(out)], cli_env)
    assert_ok(result)
    report = json.loads(out.read_text())
    assert report["device"]["type"] == "cpu" and report["device"]["torch_threads"] >= 1
    assert {"torch", "accelerate", "torchvision", "ganscale", "python"} <= set(report["versions"])
    assert report["settings"] == {**report["settings"], "steps": 2, "warmup": 1, "repeats": 1}
    rows = report["results"]
    assert [(r["runner"], r["data"]) for r in rows] == [
        ("ganscale", "tensor"), ("ganscale", "dataloader"), ("textbook", "dataloader")]
    for row in rows:
        assert row["preset"] == "mnist-dcgan-plain" and row["batch_size"] == 8
        assert len(row["runs"]) == 1 and row["steps"] == [2] and len(row["other_cpu"]) == 1
        assert row["img_per_s"] > 0 and row["img_per_s_min"] <= row["img_per_s"] <= row["img_per_s_max"]
    for row in rows[:2]:
        assert row["speedup"] == pytest.approx(row["img_per_s"] / rows[2]["img_per_s"])
    assert set(report["speedup"]) == {"mnist-dcgan-plain/b8/no/tensor/compile-off",
                                      "mnist-dcgan-plain/b8/no/dataloader/compile-off"}
    assert "speedup" in result.stdout and "textbook" in result.stdout and "1.00x (base)" in result.stdout
    assert f"wrote {out}" in result.stdout


@pytest.mark.slow
def test_bench_without_baseline_has_no_speedup(cli_env, tmp_path):
    out = tmp_path / "bench.json"
    result = run_cli(["bench", "--preset", "mnist-mlp", "--batch-size", "8", "--no-baseline", "--quiet",
                      *TINY_BENCH, "--json", str(out)], cli_env)
    assert_ok(result)
    report = json.loads(out.read_text())
    assert [r["runner"] for r in report["results"]] == ["ganscale"]
    assert report["results"][0]["speedup"] is None and report["speedup"] == {}
    assert "repeat 1/1" not in result.stdout  # --quiet: the table only


@pytest.mark.slow
def test_bench_of_a_prepared_dataset_preset_takes_overrides_and_skips_the_textbook(cli_env, tmp_path):
    """stacked-mnist-r3gan trains on data.path: --set points it at a dataset (and narrows the net);
    the textbook loop reads MNIST only, so there is no speed-up to report."""
    write_prepared(tmp_path / "stacked", count=64, channels=3, resolution=32)
    out = tmp_path / "bench.json"
    result = run_cli(["bench", "--preset", "stacked-mnist-r3gan", "--batch-size", "4", *TINY_BENCH,
                      "--set", f"data.path={tmp_path / 'stacked'}", "model.r3gan_widths=16",
                      "--json", str(out)], cli_env)
    assert_ok(result)
    report = json.loads(out.read_text())
    # no --precision: the preset's own (bf16); mnist-dcgan-plain above ran its own fp32 ("no")
    assert [(r["runner"], r["preset"], r["precision"]) for r in report["results"]] == [
        ("ganscale", "stacked-mnist-r3gan", "bf16")]
    assert report["results"][0]["img_per_s"] > 0 and report["results"][0]["speedup"] is None
    assert report["settings"]["overrides"] == [f"data.path={tmp_path / 'stacked'}", "model.r3gan_widths=16"]
    assert "no textbook run" in result.stdout


def test_textbook_runs_only_where_it_does_the_same_work(tmp_path):
    from ganscale.bench.grid import textbook_mismatch
    from ganscale.config import load_config

    assert textbook_mismatch(load_config("mnist-dcgan-plain")) is None
    assert "loss.kind=rpgan (r1_gamma 1, r2_gamma 1)" in textbook_mismatch(load_config("mnist-r3gan"))
    assert "r1_gamma 2" in textbook_mismatch(load_config("mnist-dcgan-plain", overrides=("loss.r1_gamma=2",)))
    assert textbook_mismatch(load_config("mnist-dcgan")) == (
        "trains loss.mode_seeking=1 on top of the loss, which the textbook loop leaves out")
    codes = textbook_mismatch(load_config("mnist-dcgan-plain", overrides=("model.latent_codes=10",)))
    assert codes == ("trains model.latent_codes=10 (InfoGAN's code loss) on top of the loss, "
                     "which the textbook loop leaves out")
    write_prepared(tmp_path / "rgb", count=8, channels=3, resolution=32)
    assert "data.path" in textbook_mismatch(load_config("cifar10-dcgan",
                                                        overrides=(f"data.path={tmp_path / 'rgb'}",)))


def test_the_textbook_trains_the_same_overridden_model(mnist_root, monkeypatch):
    """--set reaches the textbook runner too: both loops time the same (here narrower) G and D."""
    from ganscale.bench.grid import _group
    from ganscale.bench.runners import TextbookRunner

    monkeypatch.setenv("GANSCALE_DATA", str(mnist_root))
    specs, _ = _group("mnist-dcgan-plain", 8, ["no"], ["tensor"], ["off"], True, ("model.g_width=16",))
    assert [spec.case.overrides for spec in specs] == [("model.g_width=16",)] * 2
    textbook = TextbookRunner(specs[-1].case)
    try:
        assert textbook.cfg.model.g_width == 16
    finally:
        textbook.close()


@pytest.mark.parametrize("bad", [
    ["--set", "train.nope=1"], ["--set", "model.arch=nope"], ["--set", "data.path=/no/such/dataset"],
    ["--batch-size", "0"], ["--batch-size", "x"], ["--precision", "fp32"], ["--data", "gpu"],
    ["--compile", "yes"], ["--preset", "nope"], ["--steps", "-1"], ["--repeats", "0"],
    ["--target-seconds", "0"], ["--retry-above", "x"], ["--json", "/no/such/dir/out.json"], ["--batch-size"],
    ["--preset", "mnist-r3gan", "--compile", "off", "on"],  # R1 + R2 need a double backward
])
def test_bad_argument_is_one_line_exit_2(bad, tmp_path):
    env = {**os.environ, "GANSCALE_DATA": str(tmp_path)}  # never reached: arguments fail first
    result = run_cli(["bench", *bad], env, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganscale bench: error: "), result.stderr
    assert result.stdout == ""


class _Counter(Runner):
    """A stand-in runner: counts steps, no training."""

    images_per_step = 4

    def __init__(self):
        self.steps = 0

    def step(self) -> int:
        self.steps += 1
        return self.images_per_step


def test_measure_group_interleaves_warms_up_once_and_counts_images():
    runners = [_Counter(), _Counter()]
    results = [Result(name, "p", 4, "no", "tensor", "off") for name in ("ganscale", "textbook")]
    lines = []
    measure_group(runners, results, steps=3, warmup=2, repeats=2, target_s=1.0, log=lines.append,
                  settle_s=0.0)
    assert [r.steps for r in runners] == [2 + 3 * 2, 2 + 3 * 2]
    assert all(len(r.runs) == 2 and r.steps == [3, 3] and r.images_per_step == 4 for r in results)
    assert [line.split()[2] for line in lines] == ["ganscale", "textbook", "ganscale", "textbook"]


def test_measure_group_auto_steps_fill_the_window_and_disturbed_windows_are_redone():
    busy = iter([1.5, 0.0, 0.0])  # other processes: the first window is disturbed

    class FakeLoad:
        def cores(self):
            return next(busy)

    runner, result = _Counter(), Result("ganscale", "p", 4, "no", "tensor", "off")
    lines = []
    measure_group([runner], [result], steps=None, warmup=0, repeats=2, target_s=0.0, log=lines.append,
                  retry_above=0.5, settle_s=0.0, other_load=FakeLoad)
    assert result.steps == [2, 2] and result.other_cpu == [0.0, 0.0]  # auto: at least MIN_STEPS
    assert runner.steps == 6 and len(lines) == 3 and "disturbed, again" in lines[0]


def test_table_lists_every_result_and_the_speedup():
    rows = [Result("ganscale", "mnist-dcgan-plain", 128, "no", "tensor", "off", runs=[300.0, 200.0, 250.0],
                   steps=[10, 10, 11], images_per_step=128, speedup=2.5, other_cpu=[0.0, 0.01, None]),
            Result("textbook", "mnist-dcgan-plain", 128, "no", "dataloader", "off", runs=[100.0], steps=[10],
                   images_per_step=128, other_cpu=[None])]
    report = {"results": [r.to_dict() for r in rows], "load_avg": {"start": [1.0], "end": [1.0]},
              "wall_s": 1.0, "device": {"type": "cpu", "name": "x", "cpu_cores": 2, "torch_threads": 2},
              "versions": {"torch": "t", "accelerate": "a", "torchvision": "v"}}
    assert rows[0].to_dict()["img_per_s"] == 250.0
    table = format_table(report)
    assert "2.50x" in table and "1.00x (base)" in table and "250.0" in table and "200.0" in table
    assert "10/10/11" in table and "0.01" in table and "n/a" in table
    assert Case("mnist-dcgan-plain", 128).key == "mnist-dcgan-plain/b128/no/tensor/compile-off"
    assert sys.modules["ganscale.bench"].DEFAULT_BATCH == {"mnist-dcgan-plain": 128, "mnist-dcgan64": 64}
