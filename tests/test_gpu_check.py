"""tools/gpu_check.sh: the CPU dry run end to end (so the GPU run cannot fail for a typo), and the
pure pieces it is made of (reading runs, resume checks, tables, time-outs) on small fake inputs."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tests.helpers import cli_env as make_cli_env
from tools.gpucheck import commands, plan, records, report
from tools.gpucheck.profile import summarize

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tools" / "gpu_check.sh"
PRESETS = sorted(p.stem for p in (REPO / "ganscale" / "presets").glob("*.yaml"))


def _strict_json(text: str) -> dict:
    def refuse(name):
        raise ValueError(f"non-finite number {name} in the JSON")

    return json.loads(text, parse_constant=refuse)


def _script(args: list[str], env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], env={**env, "PYTHON": sys.executable}, capture_output=True,
                          text=True, timeout=timeout)


# ----------------------------------------------------------------------------- the dry run, for real

@pytest.fixture(scope="module")
def dry_run(mnist_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-check") / "out"
    env = make_cli_env(mnist_root, out.parent)
    started = time.perf_counter()
    result = _script([str(out), "--cpu-dry-run"], env)
    return result, out, time.perf_counter() - started


@pytest.mark.slow
def test_dry_run_writes_the_four_files_and_a_summary(dry_run):
    result, out, _ = dry_run
    assert result.returncode == 0, f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["gpu_check.json", "gpu_check.md", "gpu_check.log", "gpu_check_profile.txt"])
    assert "gpu check (cpu-dry-run)" in result.stdout and "failures: 0" in result.stdout
    assert "$ " in (out / "gpu_check.log").read_text()  # every command, with its output


@pytest.mark.slow
def test_dry_run_json_holds_every_step_and_the_run_folders_are_gone(dry_run):
    _, out, _ = dry_run
    results = _strict_json((out / "gpu_check.json").read_text())
    assert results["mode"] == "cpu-dry-run" and results["failures"] == []
    assert set(results["steps"]) == {"train", "bench", "evaluate", "profile"}
    assert {name: step["status"] for name, step in results["steps"].items()} == dict.fromkeys(
        results["steps"], "ok")
    assert results["environment"]["torch"] == torch.__version__ and results["environment"]["gpus"] == []
    for run in results["steps"]["train"]["runs"]:
        if "run_dir" in run:  # temporary, outside OUT_DIR, and removed at the end
            assert not Path(run["run_dir"]).exists() and out not in Path(run["run_dir"]).parents


@pytest.mark.slow
def test_dry_run_trains_every_preset_and_every_record_is_finite(dry_run):
    _, out, _ = dry_run
    runs = _strict_json((out / "gpu_check.json").read_text())["steps"]["train"]["runs"]
    trained = [r for r in runs if r["status"] == "ok"]
    assert sorted({(r["preset"], r["precision"]) for r in trained}) == [
        (p, precision) for p in PRESETS for precision in ("bf16", "no")]
    for run in trained:
        assert run["exit"] == 0 and run["metrics"]["losses_finite"] and run["metrics"]["rows"] == 2
        assert all(math.isfinite(run["metrics"]["final"][k]) for k in ("loss_D", "loss_G", "img_per_s"))
        assert run["checkpoint"]["weights_finite"] and run["checkpoint"]["floating_tensors"] > 0
        assert run["checkpoint"]["step"] == 2 and run["resume"]["after"]["step"] == 3
        checks = {k: v for k, v in run["resume"].items() if isinstance(v, bool)}
        assert len(checks) == 11 and all(checks.values()), (run["name"], checks)
    skipped = [r for r in runs if r["status"] != "ok"]
    assert {r["preset"] for r in skipped if r["precision"] == "fp16"} == set(PRESETS)
    assert all(r["status"].startswith("skipped") and r["config_checked"] for r in skipped)


@pytest.mark.slow
def test_dry_run_bench_evaluate_and_profile_measured_something_finite(dry_run):
    _, out, _ = dry_run
    steps = _strict_json((out / "gpu_check.json").read_text())["steps"]
    rows = [row for i in steps["bench"]["invocations"] for row in i.get("rows", [])]
    assert len(rows) == 1 and rows[0]["batch_size"] == 16
    row = rows[0]
    assert row["ganscale_img_s"] > 0 and row["textbook_img_s"] > 0
    assert row["ratio"] == pytest.approx(row["ganscale_img_s"] / row["textbook_img_s"])
    evaluated = steps["evaluate"]["runs"]
    assert len(evaluated) == 1 and evaluated[0]["metrics"]["num"] == 200 and evaluated[0]["wall_s"] > 0
    assert math.isfinite(evaluated[0]["metrics"]["fid"])
    assert steps["profile"]["summary"]["wall_ms_per_step"] > 0
    assert "Self CPU" in (out / "gpu_check_profile.txt").read_text()


@pytest.mark.slow
def test_dry_run_markdown_has_the_tables(dry_run):
    _, out, seconds = dry_run
    text = (out / "gpu_check.md").read_text()
    for heading in ("## Environment", "## Training matrix", "## Bench", "## Targets", "## Evaluation"):
        assert heading in text
    assert "ratio (ganscale / textbook)" in text
    assert re.search(r"\| mnist-dcgan-plain \| 16 \| no \| off \| [\d,]+ \| [\d,]+ \| \d+\.\d\dx \|", text)
    assert all(f"| {p} |" in text for p in PRESETS)
    assert seconds < 240  # the whole rehearsal stays cheap enough for the suite


# ----------------------------------------------------------------------------- usage mistakes

def test_usage_mistakes_are_one_line_exit_2(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "GANSCALE_DATA": str(tmp_path)}
    for args in ([str(tmp_path / "o"), "--budget", "0"], [str(SCRIPT), "--cpu-dry-run"]):
        result = _script(args, env, timeout=60)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_the_cuda_run_on_a_cpu_machine_says_to_use_the_dry_run(tmp_path):
    result = _script([str(tmp_path / "o")], {"PATH": "/usr/bin:/bin", "GANSCALE_DATA": str(tmp_path)}, 120)
    assert result.returncode == 2 and "--cpu-dry-run" in result.stderr, result.stderr


# ----------------------------------------------------------------------------- the plan

def test_plans_cover_every_preset_and_the_dry_run_skips_fp16_and_compile():
    cuda, dry = plan.cuda_plan(REPO, 480), plan.dry_run_plan(REPO, 240)
    assert {c.preset for c in cuda.cells} == set(PRESETS) and not any(c.skip for c in cuda.cells)
    assert {(c.preset, c.precision) for c in cuda.cells} >= {(p, q) for p in PRESETS for q in plan.PRECISIONS}
    fp16_extras = [c.overrides for c in cuda.cells if c.precision == "fp16" and c.overrides]
    assert fp16_extras == [("loss.r1_gamma=1.0",), ("loss.kind=wgan-gp",)]
    assert sorted(c.batch for c in cuda.cells if c.compiled) == [256, 256, 1024, 1024, 4096, 4096]
    assert [(c.preset, c.precision) for c in dry.cells] == [(c.preset, c.precision) for c in cuda.cells]
    assert all(bool(c.skip) == (c.precision == "fp16" or c.compiled) for c in dry.cells)
    assert [b.name for b in dry.bench if not b.skip] == ["plain-eager"]


def test_cuda_bench_grid_is_the_issues_and_its_flags_exist(tmp_path):
    runs = plan.cuda_plan(REPO, 480).bench
    grid = {(p, b, q, r.compile) for r in runs for p in r.presets for b in r.batches for q in r.precisions}
    for batch in (256, 1024, 4096):
        for precision in ("no", "bf16"):
            assert {("mnist-dcgan-plain", batch, precision, c) for c in ("off", "on")} <= grid
    assert {p for p, b, _, _ in grid if b == 256} == set(PRESETS)  # dcgan64 and the newest presets
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "GANSCALE_DATA": str(tmp_path)}
    usage = subprocess.run([sys.executable, "-m", "ganscale", "bench", "--help"], env=env,
                           capture_output=True, text=True, timeout=60).stdout
    for run in runs:
        args = run.args(plan.cuda_plan(REPO, 480).bench_timing)
        assert {a for a in args if a.startswith("--")} <= set(re.findall(r"--[a-z-]+", usage)), args


# ----------------------------------------------------------------------------- reading runs

def test_metrics_summary_reads_the_last_row_and_spots_a_non_finite_loss(tmp_path):
    path = tmp_path / "metrics.jsonl"
    rows = [{"step": 1, "loss_D": 1.3, "loss_G": 0.7, "skipped_G": 0.0, "skipped_D": 1.0, "img_per_s": 10.0},
            {"step": 2, "loss_D": 1.2, "loss_G": 0.8, "skipped_G": 1.0, "skipped_D": 1.0, "img_per_s": 30.0}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 3, "loss_D"')  # cut short
    summary = records.metrics_summary(records.read_metrics(path))
    assert summary["rows"] == 2 and summary["losses_finite"] and summary["img_per_s_max"] == 30.0
    assert summary["final"]["skipped_G"] == 1.0 and summary["final"]["step"] == 2
    path.write_text(json.dumps({**rows[0], "loss_G": float("nan")}) + "\n")
    assert not records.metrics_summary(records.read_metrics(path))["losses_finite"]
    assert not records.metrics_summary([])["losses_finite"]  # nothing logged shows nothing finite


def _scaler(scale, tracker, skipped):
    if scale is None:
        return {"scaler": {}, "skipped": skipped}
    return {"scaler": {"scale": scale, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000,
                       "_growth_tracker": tracker}, "skipped": skipped}


def _checkpoint(root: Path, name: str, step: int, opt_steps: tuple[float, float], scalers=(None, None),
                weight: float = 0.5) -> Path:
    """A checkpoint laid out as ganscale writes one: five safetensors files and state.json."""
    path = root / "checkpoints" / name
    path.mkdir(parents=True)
    for file in ("generator", "discriminator", "generator_ema"):
        save_file({"net.0.weight": torch.full((2, 2), weight), "net.1.num_batches_tracked": torch.tensor(3)},
                  str(path / f"{file}.safetensors"))
    for file, count in zip(("optimizer_g", "optimizer_d"), opt_steps, strict=True):
        save_file({"state.0.step": torch.tensor(count), "state.0.exp_avg": torch.zeros(2)},
                  str(path / f"{file}.safetensors"), metadata={"param_groups": "[]", "scalars": "{}"})
    state = {"step": step, "cur_nimg": 16 * step, "world_size": 1, "config": {"optim": {"n_critic": 1}},
             "scaler_g": _scaler(*scalers[0]) if scalers[0] else _scaler(None, 0, 0),
             "scaler_d": _scaler(*scalers[1]) if scalers[1] else _scaler(None, 0, 0)}
    (path / "state.json").write_text(json.dumps(state))
    return path


def _resume_log(path: Path) -> str:
    return f"resumed from {path} at kimg 0.0\ntraining ...\n"


def test_resume_checks_pass_for_one_continued_step(tmp_path):
    saved = _checkpoint(tmp_path, "kimg-000000.032", 2, (2.0, 2.0))
    after = _checkpoint(tmp_path, "kimg-000000.048", 3, (3.0, 3.0))
    assert records.checkpoints(tmp_path) == [saved, after]
    before_sum, after_sum = records.checkpoint_summary(saved), records.checkpoint_summary(after)
    assert before_sum["weights_finite"] and before_sum["floating_tensors"] == 7
    assert before_sum["optimizer_steps"] == {"optimizer_d": [2.0], "optimizer_g": [2.0]}
    digest = records.digest(saved)
    checks = records.resume_checks(before_sum, after_sum, (digest, digest), _resume_log(saved))
    assert checks["ok"], checks


def test_resume_checks_catch_a_fresh_optimizer_a_changed_checkpoint_and_another_source(tmp_path):
    saved = _checkpoint(tmp_path, "a", 2, (2.0, 2.0))
    fresh = _checkpoint(tmp_path, "b", 3, (1.0, 3.0))  # G's Adam started over
    before, after = records.checkpoint_summary(saved), records.checkpoint_summary(fresh)
    checks = records.resume_checks(before, after, ("x", "y"), _resume_log(tmp_path / "elsewhere"))
    failed = {k for k, v in checks.items() if v is False}
    assert failed == {"ok", "optimizer_g_continues", "saved_checkpoint_unchanged", "resumed_from_saved"}


def test_resume_checks_follow_fp16_scalers_through_a_skipped_step(tmp_path):
    # G's update overflowed: no Adam step, the scale backed off, the skip counted; D's went on.
    saved = _checkpoint(tmp_path, "a", 2, (2.0, 2.0), ((65536.0, 2, 0), (65536.0, 2, 0)))
    after = _checkpoint(tmp_path, "b", 3, (2.0, 3.0), ((32768.0, 0, 1), (65536.0, 3, 0)))
    before_sum, after_sum = records.checkpoint_summary(saved), records.checkpoint_summary(after)
    assert records.scaler_summary(records.read_state(after))["G"] == {
        "scale": 32768.0, "growth_tracker": 0, "growth_factor": 2.0, "backoff_factor": 0.5, "skipped": 1}
    assert records.resume_checks(before_sum, after_sum, ("d", "d"), _resume_log(saved))["ok"]
    restarted = _checkpoint(tmp_path, "c", 3, (3.0, 3.0), ((65536.0, 1, 0), (65536.0, 3, 0)))  # a new scaler
    checks = records.resume_checks(before_sum, records.checkpoint_summary(restarted), ("d", "d"),
                                   _resume_log(saved))
    assert not checks["scaler_g_continues"] and checks["scaler_d_continues"] and not checks["ok"]


def test_tensor_summary_names_every_non_finite_tensor(tmp_path):
    path = _checkpoint(tmp_path, "a", 1, (1.0, 1.0))
    save_file({"w": torch.tensor([1.0, float("inf")], dtype=torch.bfloat16), "ok": torch.ones(2)},
              str(path / "generator.safetensors"))
    summary = records.tensor_summary(path)
    assert summary["nonfinite"] == ["generator:w"] and not summary["weights_finite"]


def test_bench_rows_pair_each_ganscale_result_with_its_textbook(tmp_path):
    def result(runner, batch, img_s, precision="no", speedup=None):
        return {"runner": runner, "preset": "mnist-dcgan-plain", "batch_size": batch, "precision": precision,
                "data": "tensor", "compile": "off", "img_per_s": img_s, "speedup": speedup, "runs": [img_s]}

    bench = {"results": [result("ganscale", 256, 900.0, speedup=3.0), result("ganscale", 256, 1200.0, "bf16"),
                         result("textbook", 256, 300.0), result("ganscale", 1024, 50.0)]}
    rows = records.bench_rows(bench)
    assert [(r["precision"], r["textbook_img_s"], r["ratio"]) for r in rows] == [
        ("no", 300.0, 3.0), ("bf16", 300.0, 4.0), ("no", None, None)]


# ----------------------------------------------------------------------------- the report

def _results(rows: list[dict], cuda: bool = True) -> dict:
    invocation = {"name": "plain-eager", "status": "ok", "wall_s": 3.0, "rows": rows}
    bench = {"status": "ok", "invocations": [invocation]}
    return {"mode": "cuda" if cuda else "cpu-dry-run", "started": "now", "wall_s": 1.0, "budget_s": 480.0,
            "environment": {"gpus": ["H200"], "gpu_memory_gib": 139.8, "compute_capability": "9.0",
                            "torch": "2.11", "cuda": "13.0", "packages": {"onnx": "1.0", "wandb": None}},
            "steps": {"train": {"runs": []}, "bench": bench, "evaluate": {"runs": []},
                      "profile": {"status": "ok", "summary": {"gpu_busy_share": 0.4}}},
            "failures": [], "targets": report.targets(bench, cuda)}


def _row(batch: int, img_s: float, ratio: float, precision: str = "bf16") -> dict:
    return {"preset": "mnist-dcgan-plain", "batch_size": batch, "precision": precision, "data": "tensor",
            "compile": "off", "ganscale_img_s": img_s, "textbook_img_s": img_s / ratio, "ratio": ratio}


def test_targets_use_the_best_bf16_batch_and_a_missed_one_points_at_the_profile():
    rows = [_row(256, 90_000.0, 2.5), _row(4096, 260_000.0, 2.9), _row(1024, 400_000.0, 9.0, "no")]
    results = _results(rows)
    first, second = results["targets"]
    assert (first["measured"], first["status"]) == (260_000.0, "met")
    assert first["where"] == "batch 4096, compile off"
    assert (second["measured"], second["status"]) == (2.9, "missed")
    text = report.markdown(results)
    assert "| mnist-dcgan-plain | 4096 | bf16 | off | 260,000 | 89,655 | 2.90x |" in text
    assert "Where the time goes" in text and "gpu_busy_share 0.4" in text
    assert "| not installed | wandb |" in text and "H200 x1, 139.8 GiB" in text
    dry = _results([_row(16, 900.0, 1.5)], cuda=False)
    assert {t["status"] for t in dry["targets"]} == {"not applicable (CPU dry run)"}
    assert {t["status"] for t in _results([])["targets"]} == {"not measured"}


def test_table_escapes_pipes_and_clean_drops_non_finite_numbers():
    assert report.table(["a", "b"], [["x|y", "1\n2"]]).splitlines()[-1] == "| x\\|y | 1 2 |"
    cleaned = report.clean({"a": float("nan"), "b": [float("inf"), 1.5], "c": (1, "s")})
    assert cleaned == {"a": None, "b": [None, 1.5], "c": [1, "s"]}
    json.dumps(cleaned, allow_nan=False)


def test_profile_summary_splits_kernels_copies_and_launches():
    class Span:
        def __init__(self, us):
            self.us = us

        def elapsed_us(self):
            return self.us

    class Event:
        def __init__(self, name, device_type, us):
            self.name, self.device_type, self.time_range = name, device_type, Span(us)

    class Trace:
        def events(self):
            cuda, cpu = torch.autograd.DeviceType.CUDA, torch.autograd.DeviceType.CPU
            return [Event("ampere_sgemm", cuda, 3000.0), Event("Memcpy HtoD (Pageable)", cuda, 200.0),
                    Event("cudaLaunchKernel", cpu, 5.0), Event("cudaLaunchKernel", cpu, 7.0),
                    Event("aten::mm", cpu, 50.0)]

    summary = summarize(Trace(), steps=2, wall_s=0.006, cpu_s=0.004, cuda=True)
    assert summary["wall_ms_per_step"] == 3.0 and summary["kernel_ms_per_step"] == 1.5
    assert summary["copy_ms_per_step"] == 0.1 and summary["gpu_busy_share"] == 0.5
    assert summary["launches_per_step"] == 1.0 and summary["launch_cpu_ms_per_step"] == 0.006


# ----------------------------------------------------------------------------- running commands

def test_a_command_over_its_time_is_ended_with_its_children_and_recorded(tmp_path):
    log = commands.Log()
    started = time.perf_counter()
    argv = ["sh", "-c", "echo started; sleep 60 & sleep 60"]
    outcome = commands.run(argv, {"PATH": "/usr/bin:/bin"}, 1.0, log)
    assert time.perf_counter() - started < 30 and outcome.timed_out and not outcome.ok
    assert outcome.stdout.strip() == "started"
    failure = outcome.failure()
    assert failure["timed_out"] and "time budget" in failure["stderr_tail"][-1]
    assert "$ sh -c" in log.text() and "timed out" in log.text()
    skipped = commands.run(["true"], {}, 0.0, log)
    assert skipped.returncode is None and "not started" in skipped.stderr


def test_long_outputs_keep_their_head_and_tail():
    text = "\n".join(f"line {i}" for i in range(1000))
    kept = commands.truncated(text, head=3, tail=2).splitlines()
    assert kept == ["line 0", "line 1", "line 2", "[... 995 lines cut ...]", "line 998", "line 999"]
    assert commands.truncated("short") == "short"
    log = commands.Log()
    for i in range(50):
        log.note(f"note {i} " + "x" * 100)
    capped = log.text(limit=1000)
    assert len(capped) < 1100 and capped.startswith("# note 0") and "characters cut" in capped
    assert capped.rstrip().endswith("x" * 20) and "note 49" in capped
