"""Steps 2 and 3 and the profile: `ganscale bench` and `ganscale evaluate` through the command line,
torch.profiler through tools/gpucheck/profile.py, and the machine facts they are read against.

Each step gets a time limit; the invocations inside it share that limit by weight, and one that
fails or runs out of time is recorded and the next one still runs.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from tools.gpucheck import records
from tools.gpucheck.commands import Context, run
from tools.gpucheck.plan import PLAIN, Plan

PROBE = """
import json, os, platform
from importlib import metadata
out = {"python": platform.python_version(), "cpu_cores": os.cpu_count(), "packages": {}}
for name in ("accelerate", "torchvision", "safetensors", "numpy", "pillow", "pyyaml", "tqdm", "onnx",
             "onnxruntime", "wandb", "torch-fidelity"):
    try:
        out["packages"][name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        out["packages"][name] = None
import torch
out.update(torch=torch.__version__, cuda=torch.version.cuda, cuda_available=torch.cuda.is_available(),
           cudnn=torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None, gpus=[])
if out["cuda_available"]:
    out["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    props = torch.cuda.get_device_properties(0)
    out["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
    out["compute_capability"] = f"{props.major}.{props.minor}"
print(json.dumps(out))
"""
SMI_QUERY = ["--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]


def json_line(text: str, marker: str = "") -> dict | None:
    """The last output line that is `marker` followed by a JSON object."""
    for line in reversed(text.splitlines()):
        if line.startswith(marker + "{"):
            try:
                found = json.loads(line[len(marker):])
            except json.JSONDecodeError:
                continue
            return found if isinstance(found, dict) else None
    return None


def environment(ctx: Context, timeout_s: float = 120) -> dict:
    """Python, torch, CUDA, GPUs and packages as the runs see them; nvidia-smi's driver when present."""
    outcome = run([ctx.python, "-c", PROBE], ctx.env, timeout_s, ctx.log)
    env = json_line(outcome.stdout) or {"probe_error": outcome.failure()}
    smi = shutil.which("nvidia-smi")
    if smi:
        answer = run([smi, *SMI_QUERY], ctx.env, 30, ctx.log)
        env["nvidia_smi"] = [line.strip() for line in answer.stdout.splitlines() if line.strip()]
    return env


def _share(deadline: float, weights: list[float]) -> float:
    """This invocation's time: what is left of the step, split by weight over those still to run."""
    return max(0.0, deadline - time.time()) * weights[0] / sum(weights)


def run_bench(ctx: Context, plan: Plan, timeout_s: float) -> dict:
    deadline, invocations = time.time() + timeout_s, []
    todo = [b for b in plan.bench if not b.skip]
    for bench in plan.bench:
        if bench.skip:
            invocations.append({"name": bench.name, "status": bench.skip})
            continue
        out = ctx.work / "bench" / f"{bench.name}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        argv = ctx.ganscale("bench", *bench.args(plan.bench_timing), "--json", str(out))
        outcome = run(argv, ctx.env, _share(deadline, [b.expected_s for b in todo]), ctx.log)
        todo.pop(0)
        entry = {"name": bench.name, "command": outcome.command, "exit": outcome.returncode,
                 "wall_s": round(outcome.wall_s, 1), "status": "ok" if outcome.ok else "failed", "rows": []}
        if outcome.ok and out.is_file():
            report = json.loads(out.read_text())
            entry.update(rows=records.bench_rows(report), device=report.get("device"),
                         settings=report.get("settings"))
        else:
            ctx.fail("bench", bench.name, outcome)
        invocations.append(entry)
    ran = [i for i in invocations if "exit" in i]
    status = "ok" if ran and all(i["status"] == "ok" for i in ran) else "failed"
    return {"status": status, "invocations": invocations}


def best_batch(bench: dict, fallback: int) -> int:
    """mnist-dcgan-plain's bf16 eager batch size with the most img/s (the profile's)."""
    rows = [r for i in bench.get("invocations", []) for r in i.get("rows", [])
            if r["preset"] == PLAIN and r["precision"] == "bf16" and r["compile"] == "off"]
    rows = [r for r in rows if isinstance(r["ganscale_img_s"], (int, float))]
    return max(rows, key=lambda r: r["ganscale_img_s"])["batch_size"] if rows else fallback


def evaluated_run(train: dict) -> str | None:
    """A run dir to score: mnist-dcgan-plain fp32 if it trained, else any run that did."""
    good = [r for r in train.get("runs", []) if r["status"] == "ok" and r.get("run_dir")]
    plain = [r for r in good if r["preset"] == PLAIN and r["precision"] == "no"]
    return (plain or good or [{}])[0].get("run_dir")


def _evaluate_argvs(ctx: Context, plan: Plan, run_dir: str, gpus: int) -> list[tuple[str, list[str]]]:
    # The MNIST evaluator (a GPU machine has no Inception weights and cannot download them).
    args = ["evaluate", "--checkpoint", run_dir, "--num", str(plan.eval_num), "--metrics", "mnist", "--json"]
    argvs = [("cold: computes the MNIST reference statistics" if i == 0 else "warm: reference statistics "
              "cached", ctx.ganscale(*args)) for i in range(plan.eval_runs)]
    if gpus >= 2:  # one process per GPU: the shards are generated in parallel and gathered
        launch = [ctx.python, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(gpus),
                  "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
        argvs.append((f"sharded over {gpus} processes", [*launch, "-m", "ganscale", *args]))
    return argvs


def run_evaluate(ctx: Context, plan: Plan, train: dict, gpus: int, timeout_s: float) -> dict:
    run_dir = evaluated_run(train)
    if run_dir is None:
        ctx.fail("evaluate", "checkpoint", reason="no training run finished; nothing to evaluate")
        return {"status": "failed", "runs": [], "reason": "no trained checkpoint"}
    deadline, runs = time.time() + timeout_s, []
    argvs = _evaluate_argvs(ctx, plan, run_dir, gpus)
    for index, (label, argv) in enumerate(argvs):
        outcome = run(argv, ctx.env, _share(deadline, [1.0] * (len(argvs) - index)), ctx.log)
        metrics = json_line(outcome.stdout) if outcome.ok else None
        if metrics is None:
            ctx.fail("evaluate", label, outcome, reason="" if not outcome.ok else "no JSON metrics line")
        runs.append({"label": label, "command": outcome.command, "exit": outcome.returncode,
                     "wall_s": round(outcome.wall_s, 2), "metrics": metrics})
    ok = all(r["metrics"] for r in runs)
    notes = "" if gpus >= 2 else f"{max(gpus, 1)} device: the sharded path ran with one process"
    return {"status": "ok" if ok else "failed", "checkpoint": run_dir, "num": plan.eval_num, "runs": runs,
            "note": notes}


def run_profile(ctx: Context, plan: Plan, bench: dict, out_dir: Path, timeout_s: float) -> dict:
    batch = best_batch(bench, plan.profile_batch)
    path = out_dir / "gpu_check_profile.txt"
    argv = [ctx.python, "-m", "tools.gpucheck.profile", "--preset", PLAIN, "--batch-size", str(batch),
            "--precision", "bf16", "--steps", str(plan.profile_steps), "--warmup", "3", "--out", str(path)]
    outcome = run(argv, ctx.env, timeout_s, ctx.log, cwd=ctx.repo)
    summary = json_line(outcome.stdout, "PROFILE_SUMMARY ") if outcome.ok else None
    if summary is None:
        ctx.fail("profile", f"{PLAIN} bf16 b{batch}", outcome)
    return {"status": "ok" if summary else "failed", "batch_size": batch, "command": outcome.command,
            "exit": outcome.returncode, "file": path.name if path.is_file() else None, "summary": summary}
