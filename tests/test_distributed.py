"""Distributed and mixed-precision correctness, proven with real processes (issue 3).

Multi-process tests go through the real `accelerate launch --multi_gpu --num_processes 2` command
line; on a CPU machine that starts two gloo processes (see the notes). To keep the file fast on two
cores, the runs are batched into three launches of `tests/dist_driver.py`, one module-scoped fixture
each (`runs_a`, `runs_ab`, `runs_abc`), so a failed launch names itself. The driver calls the real
`ganscale train` entry point once per job and makes every rank report a sha256 of its own G, D, G_ema
and optimizer tensors:

    A  2 processes: equivalence runs, rank-identity runs (default preset, WGAN-GP, bf16), the first
       halves of resumed runs, the divergence runs;
    B  1 process:   the 1 x 2b equivalence runs, a 2 -> 1 process resume, the first half of 1 -> 2;
    C  2 processes: the second halves of the 2 -> 2 (also with adaptive augmentation) and 1 -> 2 resumes.

The SIGKILL test runs `-m ganscale` itself. The in-process tests at the end need no launcher.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import torch

from ganscale.checkpoint import (
    TENSOR_FILES,
    WEIGHT_FILES,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    read_state,
)
from ganscale.config import load_config
from ganscale.data import IndexStream, StreamBatchSampler
from tests.helpers import (
    TINY,
    assert_ok,
    checkpoint_tensors,
    cli_env,
    latest_checkpoint_dir,
    launch_command,
    run_cli,
)

DRIVER = Path(__file__).with_name("dist_driver.py")
STEPS, HALF = 8, 4  # steps of a straight run; where a resumed run stops
B = 16  # per-process batch of the 2-process runs; the 1-process runs use 2 * B
GLOBAL = 2 * B
RTOL = 1e-5
LOSSES = ["nonsaturating", "hinge", "lsgan", "wgan-gp"]
LR = 2e-4  # the presets' lr_g and lr_d
# Adaptive augmentation that moves p within a short run: 96 images per adjustment / 0.5 kimg = 0.192;
# the low target makes both adjustments go the same way (r_t is about 0.3, then 1, in these runs).
AUG = ["aug.policy=translation,cutout,color", "aug.p=0.5", "aug.target=0.2", "aug.speed=0.5", "aug.every=3"]
# mnist-r3gan (RpGAN + R1 + R2 at every step, the cosine schedules), narrowed to keep the launch cheap.
R3GAN_SMALL = ["model.r3gan_widths=16,8,8", "model.r3gan_cardinality=2", "loss.r1_gamma=1", "loss.r2_gamma=1"]


def kimg(steps: int) -> str:
    return f"train.max_kimg={steps * GLOBAL / 1000}"


EVERY_STEP = f"train.checkpoint_every={GLOBAL / 1000}"


# --------------------------------------------------------------------------- launching
@dataclass
class Launch:
    returncode: int
    stdout: str
    stderr: str


def drive(jobs: list[dict], work: Path, env: dict, num_processes: int, tag: str) -> Launch:
    jobs_file = work / f"jobs-{tag}.json"
    jobs_file.write_text(json.dumps(jobs, indent=1))
    command = launch_command(num_processes, str(DRIVER), str(jobs_file), str(work / "reports"))
    result = subprocess.run(command, env=env, timeout=600, capture_output=True, text=True)
    launch = Launch(result.returncode, result.stdout, result.stderr)
    (work / f"launch-{tag}.out").write_text(result.stdout)
    (work / f"launch-{tag}.err").write_text(result.stderr)
    assert launch.returncode == 0, f"launch {tag} failed ({launch.returncode}):\n{launch.stderr[-4000:]}"
    return launch


def job(name: str, run_dir: Path, *overrides: str, preset: str = "mnist-mlp", **extra) -> dict:
    return {"name": name, "argv": ["--preset", preset, "--run-dir", str(run_dir), *TINY, *overrides],
            **extra}


@dataclass
class Runs:
    work: Path
    launches: dict[str, Launch]

    def run_dir(self, name: str) -> Path:
        return self.work / "runs" / name

    def reports(self, name: str) -> list[dict]:
        found = sorted((self.work / "reports" / name).glob("rank*.json"))
        assert found, f"job {name} wrote no report"
        return [json.loads(p.read_text()) for p in found]

    def final(self, name: str) -> dict[str, dict[str, torch.Tensor]]:
        return checkpoint_tensors(latest_checkpoint_dir(self.run_dir(name)))


def equivalence_jobs(d, processes: str, batch: str) -> list:
    """The runs compared between 2 processes x B (processes="2") and 1 process x 2B ("1")."""
    jobs = [job(f"eq32-nonsaturating-{processes}", d(f"eq32-nonsaturating-{processes}"), batch, kimg(STEPS))]
    for loss in LOSSES:
        jobs.append(job(f"eq64-{loss}-{processes}", d(f"eq64-{loss}-{processes}"), batch, kimg(STEPS),
                        f"loss.kind={loss}", float64=True))
    jobs.append(job(f"eq64-r1-{processes}", d(f"eq64-r1-{processes}"), batch, kimg(STEPS), "loss.r1_gamma=1",
                    "loss.r1_every=2", float64=True))
    jobs.append(job(f"eq64-aug-{processes}", d(f"eq64-aug-{processes}"), batch, kimg(STEPS), *AUG,
                    "loss.r1_gamma=1", "loss.r1_every=2", float64=True))
    jobs.append(job(f"eq32-rpgan-{processes}", d(f"eq32-rpgan-{processes}"), batch, kimg(STEPS), *R3GAN_SMALL,
                    preset="mnist-r3gan"))
    return jobs


# Three launches, one fixture each, so a failed launch names itself; B continues a checkpoint of A, and
# C continues checkpoints of A and B.
@pytest.fixture(scope="module")
def dist_work(tmp_path_factory, mnist_root) -> tuple[Runs, dict]:
    work = tmp_path_factory.mktemp("dist")
    return Runs(work, {}), cli_env(mnist_root, work)


@pytest.fixture(scope="module")
def runs_a(dist_work) -> Runs:
    """2 processes: equivalence runs, rank identity, bf16, the first half of a resume, divergences."""
    r, env = dist_work
    d = r.run_dir
    per_process = f"train.batch_size={B}"
    jobs_a = equivalence_jobs(d, "2", per_process) + [
        job("ranks-default", d("ranks-default"), per_process, kimg(HALF), preset="mnist-dcgan"),
        job("ranks-wgan-gp", d("ranks-wgan-gp"), per_process, kimg(HALF), "loss.kind=wgan-gp",
            preset="mnist-dcgan-plain"),
        job("ranks-accum", d("ranks-accum"), f"train.batch_size={B // 2}", "train.grad_accum=2", kimg(HALF),
            preset="mnist-dcgan-plain"),
        job("accum-2", d("accum-2"), f"train.batch_size={B // 2}", "train.grad_accum=2", kimg(STEPS)),
        job("bf16", d("bf16"), per_process, kimg(HALF), "train.mixed_precision=bf16",
            preset="mnist-dcgan-plain"),
        job("resume22-a", d("resume22"), per_process, kimg(STEPS), f"train.stop_after_steps={HALF}"),
        job("resume-aug-a", d("resume-aug"), per_process, kimg(STEPS), *AUG, "loss.r1_gamma=1",
            "loss.r1_every=2", f"train.stop_after_steps={HALF}", float64=True),
        job("nan-lr", d("nan-lr"), per_process, kimg(STEPS), "optim.lr_d=1e30", EVERY_STEP),
        job("nan-stop", d("nan-stop"), per_process, kimg(STEPS), EVERY_STEP,
            inject_nan={"rank": 1, "step": 3, "while_lr_d_above": 0.0}),
        job("nan-rollback", d("nan-rollback"), per_process, kimg(STEPS), "train.on_nan=rollback", EVERY_STEP,
            inject_nan={"rank": 1, "step": 3, "while_lr_d_above": 0.3 * LR}),
    ]
    r.launches["A"] = drive(jobs_a, r.work, env, 2, "A")
    return r


@pytest.fixture(scope="module")
def runs_ab(runs_a, dist_work) -> Runs:
    """1 process: the 1 x 2b equivalence runs, a 2 -> 1 process resume, the first half of 1 -> 2."""
    r, env = dist_work
    d, one_process = r.run_dir, f"train.batch_size={GLOBAL}"
    shutil.copytree(d("resume22"), d("resume21"))  # a 2-process checkpoint, resumed in 1 process
    jobs_b = equivalence_jobs(d, "1", one_process) + [
        job("resume21-b", d("resume21"), one_process, kimg(STEPS), "train.resume=auto"),
        job("resume12-a", d("resume12"), one_process, kimg(STEPS), f"train.stop_after_steps={HALF}"),
    ]
    r.launches["B"] = drive(jobs_b, r.work, env, 1, "B")
    return r


@pytest.fixture(scope="module")
def runs_abc(runs_ab, dist_work) -> Runs:
    """2 processes: the second halves of the 2 -> 2 and 1 -> 2 process resumes."""
    r, env = dist_work
    d, per_process = r.run_dir, f"train.batch_size={B}"
    jobs_c = [job("resume22-b", d("resume22"), per_process, kimg(STEPS), "train.resume=auto"),
              job("resume-aug-b", d("resume-aug"), per_process, kimg(STEPS), *AUG, "loss.r1_gamma=1",
                  "loss.r1_every=2", "train.resume=auto", float64=True),
              job("resume12-b", d("resume12"), per_process, kimg(STEPS), "train.resume=auto")]
    r.launches["C"] = drive(jobs_c, r.work, env, 2, "C")
    return r


# --------------------------------------------------------------------------- comparisons
def relative_differences(a: dict, b: dict) -> dict[str, float]:
    """||a - b|| / max(||a||, ||b||) per tensor of two checkpoints (float tensors only)."""
    out = {}
    for group in TENSOR_FILES:
        assert a[group].keys() == b[group].keys(), group
        for key, x in a[group].items():
            y = b[group][key]
            if not x.is_floating_point():
                assert torch.equal(x, y), f"{group}.{key}"
                continue
            x, y = x.double(), y.double()
            scale = max(x.norm().item(), y.norm().item())
            out[f"{group}.{key}"] = (x - y).norm().item() / scale if scale else 0.0
    return out


def assert_close(a: dict, b: dict, rtol: float = RTOL) -> float:
    diffs = relative_differences(a, b)
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= rtol, f"{worst}: relative difference {diffs[worst]:.3g} > {rtol}"
    return diffs[worst]


def assert_bitwise(a: dict, b: dict) -> None:
    for group in TENSOR_FILES:
        assert a[group].keys() == b[group].keys(), group
        for key, value in a[group].items():
            assert torch.equal(value, b[group][key]), f"{group}.{key} differs"


def assert_finite(tensors: dict) -> None:
    for group, state in tensors.items():
        for key, value in state.items():
            if value.is_floating_point():
                assert torch.isfinite(value).all(), f"{group}.{key} is not finite"


def assert_ranks_identical(reports: list[dict]) -> None:
    assert [rep["rank"] for rep in reports] == [0, 1] and all(rep["world"] == 2 for rep in reports)
    first, second = reports
    assert first["tensors"].keys() == second["tensors"].keys()
    differ = [k for k in first["tensors"] if first["tensors"][k] != second["tensors"][k]]
    assert not differ, f"rank 0 and rank 1 differ in {differ}"


# --------------------------------------------------------------------------- 1. ranks stay identical
@pytest.mark.slow
@pytest.mark.parametrize("name", ["ranks-default", "ranks-wgan-gp", "ranks-accum", "bf16"])
def test_ranks_hold_identical_models(runs_a, name):
    """G, D, G_ema (parameters and buffers) and both optimizers' states are bitwise equal on both
    ranks after training (default preset, WGAN-GP, grad_accum=2, bf16); the default preset has
    BatchNorm in G, so running statistics are covered, and is self-conditioned, so the ranks train on
    rank 0's cluster labels (a broadcast)."""
    reports = runs_a.reports(name)
    assert [rep["rc"] for rep in reports] == [0, 0]
    assert all(rep["step"] == HALF for rep in reports)
    assert_ranks_identical(reports)
    buffers = reports[0]["buffers"]
    assert "generator.net.2.running_mean" in buffers and "generator_ema.net.2.running_var" in buffers
    if name == "ranks-default":  # rank 1 clustered nothing: it holds rank 0's 100 cluster ids
        assert reports[0]["labels"] == reports[1]["labels"] and reports[1]["labels"]["distinct"] == 100
    # What the ranks hashed is what rank 0 saved.
    from tests.dist_driver import tensor_digest

    saved = runs_a.final(name)
    for group in ("generator", "discriminator", "generator_ema"):
        for key, value in saved[group].items():
            assert tensor_digest(value) == reports[0]["tensors"][f"{group}.{key}"], f"{group}.{key}"


# --------------------------------------------------------------------------- 2. equivalence
@pytest.mark.slow
@pytest.mark.parametrize("loss", [*LOSSES, "r1", "aug"])
def test_two_processes_equal_one_process_with_twice_the_batch(runs_ab, loss):
    """2 processes x batch b == 1 process x batch 2b (same images, same noise) within 1e-5 relative,
    for every tensor of the checkpoint. Trained in float64 (see dist_driver.float64 for why float32
    cannot show this for hinge/WGAN-GP); `r1` is the non-saturating loss with a lazy R1 penalty, `aug`
    the same with adaptive augmentation (same augmented images, same p: test_augmentation_p_...)."""
    two, one = runs_ab.final(f"eq64-{loss}-2"), runs_ab.final(f"eq64-{loss}-1")
    assert two["generator"]["net.0.weight"].dtype == torch.float64
    assert_close(two, one)
    states = [read_state(latest_checkpoint_dir(runs_ab.run_dir(f"eq64-{loss}-{n}"))) for n in (2, 1)]
    assert [s.world_size for s in states] == [2, 1]
    assert [s.cur_nimg for s in states] == [STEPS * GLOBAL] * 2
    assert_ranks_identical(runs_ab.reports(f"eq64-{loss}-2"))


@pytest.mark.slow
@pytest.mark.parametrize("two", ["eq32-nonsaturating-2", "accum-2"])
def test_two_processes_equal_one_process_in_float32(runs_ab, two):
    """The same in float32 for the default (non-saturating) loss, whose gradients have no exact zeros;
    `accum-2` is 2 processes x grad_accum 2 x batch b/2, where both models' gradients must be
    all-reduced once, over both micro-batches."""
    assert_close(runs_ab.final(two), runs_ab.final("eq32-nonsaturating-1"))
    assert_ranks_identical(runs_ab.reports(two))


@pytest.mark.slow
def test_augmentation_p_is_agreed_by_the_ranks_and_resumed_exactly(runs_abc):
    """Adaptive p (moved at steps 3 and 6 from 0.5) is the same on both ranks and in 1 process x 2b; a
    run stopped at step 4 (one step into an adjustment interval) and resumed in a new launch ends
    bitwise equal to the straight run, with the same p and sign sums."""
    straight = runs_abc.reports("eq64-aug-2")
    assert [rep["rc"] for rep in straight] == [0, 0] and straight[0]["aug"] == straight[1]["aug"]
    p = straight[0]["aug"]["aug_p"]
    assert p != 0.5 and any(abs(p - (0.5 + k * 0.192)) < 1e-9 for k in (-2, 2))
    assert runs_abc.reports("eq64-aug-1")[0]["aug"] == straight[0]["aug"]
    stopped = runs_abc.reports("resume-aug-a")
    assert all(rep["step"] == HALF and rep["aug"]["aug_sums"][1] == GLOBAL for rep in stopped)
    resumed = runs_abc.reports("resume-aug-b")
    assert all(rep["rc"] == 0 and rep["step"] == STEPS for rep in resumed)
    assert resumed[0]["aug"] == resumed[1]["aug"] == straight[0]["aug"]
    assert_ranks_identical(resumed)
    assert_bitwise(runs_abc.final("resume-aug"), runs_abc.final("eq64-aug-2"))
    assert read_state(latest_checkpoint_dir(runs_abc.run_dir("resume-aug"))).aug_p == p


@pytest.mark.slow
def test_rpgan_with_r1_and_r2_on_r3gan_two_processes_equal_one_process(runs_ab):
    """RpGAN pairs real i with fake i inside each rank's batch; since a rank's batch is its contiguous
    slice of the global batch (data and noise), that is the pairing by global position, so 2 processes x b
    and 1 process x 2b train the same norm-free R3GAN, in float32 to 1e-5, R1 and R2 included (both in
    D's single backward and all-reduce)."""
    two, one = runs_ab.final("eq32-rpgan-2"), runs_ab.final("eq32-rpgan-1")
    assert two["generator"]["stages.0.0.basis"].dtype == torch.float32
    assert_close(two, one)
    assert_ranks_identical(runs_ab.reports("eq32-rpgan-2"))
    state = read_state(latest_checkpoint_dir(runs_ab.run_dir("eq32-rpgan-2")))
    assert state.config["loss"]["kind"] == "rpgan" and state.config["loss"]["r1_every"] == 1
    assert state.world_size == 2 and state.cur_nimg == STEPS * GLOBAL


# --------------------------------------------------------------------------- 3. data shards
@pytest.mark.parametrize("num_samples", [96, 100])
@pytest.mark.parametrize("world", [1, 2, 3])
def test_rank_shards_are_disjoint_and_cover_each_epoch(num_samples, world):
    stream, b = IndexStream(num_samples, seed=7), 4
    seen, position = [], 0
    while position < 3 * num_samples:  # three epochs, including steps that straddle an epoch boundary
        shards = [stream.rank_slice(position, b, r) for r in range(world)]
        flat = torch.cat(shards)
        assert len(set(flat.tolist())) == b * world, "ranks share an index within a step"
        assert torch.equal(flat, stream.take(position, b * world)), "order depends on the world size"
        seen.append(flat)
        position += b * world
    everything = torch.cat(seen)
    for epoch in range(3):
        part = everything[epoch * num_samples:(epoch + 1) * num_samples]
        assert sorted(part.tolist()) == list(range(num_samples)), f"epoch {epoch} is not a permutation"
    assert not torch.equal(stream.epoch_order(0), stream.epoch_order(1)), "epochs are reshuffled"
    samplers = [iter(StreamBatchSampler(stream, b, r, world, position=0)) for r in range(world)]
    first = [next(s) for s in samplers]
    assert sum(first, []) == stream.take(0, b * world).tolist()


# --------------------------------------------------------------------------- 4. resume
@pytest.mark.slow
def test_two_process_resume_is_bit_exact(runs_abc):
    """2 processes: stop after N steps, resume (new launch) to the end == the straight run, bitwise."""
    stopped = [rep for rep in runs_abc.reports("resume22-a")]
    assert all(rep["rc"] == 0 and rep["step"] == HALF for rep in stopped)
    resumed = runs_abc.reports("resume22-b")
    assert all(rep["rc"] == 0 and rep["step"] == STEPS for rep in resumed)
    assert_ranks_identical(resumed)
    assert f"resumed from {runs_abc.run_dir('resume22')}" in runs_abc.launches["C"].stdout
    assert_bitwise(runs_abc.final("resume22"), runs_abc.final("eq32-nonsaturating-2"))
    names = [p.name for _, p in list_checkpoints(runs_abc.run_dir("resume22") / "checkpoints")]
    assert names == ["kimg-000000.128", "kimg-000000.256"]


@pytest.mark.slow
@pytest.mark.parametrize("case, launch, worlds", [("resume21", "B", (2, 1)), ("resume12", "C", (1, 2))])
def test_resume_on_another_world_size_continues_the_schedule(runs_abc, case, launch, worlds):
    """A checkpoint written by 2 processes continues in 1 (per-process batch doubled, same global batch),
    and the reverse: cur_nimg and step continue, and the result equals the straight runs_abc."""
    run_dir = runs_abc.run_dir(case)
    checkpoints = list_checkpoints(run_dir / "checkpoints")
    assert [nimg for nimg, _ in checkpoints] == [HALF * GLOBAL, STEPS * GLOBAL]
    states = [read_state(path) for _, path in checkpoints]
    assert [s.world_size for s in states] == list(worlds)
    assert [s.step for s in states] == [HALF, STEPS]
    resumed = f"resumed from {checkpoints[0][1]} at kimg {HALF * GLOBAL / 1000:.1f}"
    assert resumed in runs_abc.launches[launch].stdout
    final = runs_abc.final(case)
    assert_close(final, runs_abc.final("eq32-nonsaturating-2"))
    assert_close(final, runs_abc.final("eq32-nonsaturating-1"))


# --------------------------------------------------------------------------- 6. bf16 and divergence
@pytest.mark.slow
def test_bf16_run_finishes_with_finite_weights(runs_a):
    state = read_state(latest_checkpoint_dir(runs_a.run_dir("bf16")))
    assert state.config["train"]["mixed_precision"] == "bf16" and state.cur_nimg == HALF * GLOBAL
    assert "precision bf16" in runs_a.launches["A"].stdout
    final = runs_a.final("bf16")
    assert_finite(final)
    assert all(rep["finite"] for rep in runs_a.reports("bf16"))
    assert final["generator"]["net.0.weight"].dtype == torch.float32  # autocast: fp32 master weights


def diverged_messages(runs: Runs, fragment: str) -> list[str]:
    # Two ranks write to one stderr pipe, so a message may share its line with the other rank's output:
    # find each message by its prefix rather than by whole lines.
    pattern = r"ganscale train: diverged: non-finite.*?(?=ganscale train: diverged:|\n|$)"
    return [m for m in re.findall(pattern, runs.launches["A"].stderr) if fragment in m]


@pytest.mark.slow
def test_overflowing_learning_rate_stops_every_rank_with_status_3(runs_a):
    """optim.lr_d=1e30: after D's first update its logits overflow and G's loss is NaN in step 1. Both
    ranks exit 3 with the message; no checkpoint holds the broken weights (there is none before)."""
    reports = runs_a.reports("nan-lr")
    assert [(rep["rc"], rep["step"]) for rep in reports] == [(3, 1), (3, 1)]
    messages = diverged_messages(runs_a, "last good checkpoint: none")  # only this job has none
    assert len(messages) == 2, runs_a.launches["A"].stderr[-3000:]
    assert "last good checkpoint: none" in messages[0] and "loss_G': nan" in messages[0]
    assert list_checkpoints(runs_a.run_dir("nan-lr") / "checkpoints") == []


@pytest.mark.slow
def test_nan_on_one_rank_stops_every_rank_with_status_3(runs_a):
    """A NaN in rank 1's D loss at step 3 reaches both ranks' gradients through the all-reduce; both
    ranks stop at the same log step, exit 3 with the same message naming the last good checkpoint,
    and that checkpoint (step 3, written before the NaN) is finite."""
    reports = runs_a.reports("nan-stop")
    assert [(rep["rc"], rep["step"], rep["injections"]) for rep in reports] == [(3, 4, 0), (3, 4, 1)]
    assert not any(rep["finite"] for rep in reports), "the NaN did not reach both ranks' weights"
    last = latest_checkpoint(runs_a.run_dir("nan-stop") / "checkpoints")
    messages = diverged_messages(runs_a, str(runs_a.run_dir("nan-stop")))
    assert len(messages) == 2, runs_a.launches["A"].stderr[-3000:]
    assert all(f"last good checkpoint: {last};" in m and "train.on_nan=rollback" in m for m in messages)
    assert read_state(last).step == 3
    assert_finite(checkpoint_tensors(last))


@pytest.mark.slow
def test_rollback_recovers_and_halves_the_learning_rates_each_time(runs_a):
    """A NaN in rank 1's D loss (spread to both ranks by the gradient all-reduce) at step 3, repeated
    while lr_D > 0.3 x lr: two rollbacks (lr 1 -> 1/2 -> 1/4), then the run finishes, finite and in sync."""
    reports = runs_a.reports("nan-rollback")
    assert [rep["rc"] for rep in reports] == [0, 0]
    assert [rep["injections"] for rep in reports] == [0, 2]
    assert all(rep["step"] == STEPS and rep["finite"] for rep in reports)
    assert all(math.isclose(rep[key], LR / 4) for rep in reports for key in ("lr_D", "lr_G"))
    assert runs_a.launches["A"].stdout.count("rolled back to") == 2
    assert_ranks_identical(reports)
    assert_finite(runs_a.final("nan-rollback"))


# --------------------------------------------------------------------------- 5. SIGKILL
def _workers(launcher: psutil.Process, run_dir: Path) -> list[psutil.Process]:
    found = []
    for child in launcher.children(recursive=True):
        try:
            if str(run_dir) in " ".join(child.cmdline()) and "accelerate" not in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


@pytest.mark.slow
def test_sigkill_of_a_worker_keeps_the_newest_complete_checkpoint(tmp_path, mnist_root):
    env = cli_env(mnist_root, tmp_path)
    run_dir = tmp_path / "killed"
    root = run_dir / "checkpoints"
    command = launch_command(2, "-m", "ganscale", "train", "--preset", "mnist-mlp", "--run-dir", str(run_dir),
                             *TINY, "train.max_kimg=100", EVERY_STEP, "train.keep=1000")
    with open(tmp_path / "out.txt", "w") as out, open(tmp_path / "err.txt", "w") as err:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=err, start_new_session=True)
    try:
        deadline = time.time() + 240
        while len(list_checkpoints(root)) < 2 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it could be killed"
        assert len(list_checkpoints(root)) >= 2, "no checkpoint within the time limit"
        workers = _workers(psutil.Process(proc.pid), run_dir)
        assert len(workers) == 2, [w.cmdline() for w in workers]
        writer = next(w for w in workers if w.environ().get("RANK") == "0")  # rank 0 writes checkpoints
        writer.send_signal(signal.SIGKILL)
        returncode = proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert returncode != 0
    assert "SIGKILL" in (tmp_path / "err.txt").read_text()
    complete = list_checkpoints(root)
    latest = latest_checkpoint(root)
    assert latest == complete[-1][1] and not latest.name.startswith(".")
    snapshot = load_checkpoint(latest)
    state, weights = snapshot.state, {name: getattr(snapshot, name) for name in WEIGHT_FILES}
    assert state.cur_nimg == complete[-1][0] and state.world_size == 2
    assert_finite({**weights, **snapshot.optimizer_d["state"]})
    # A half-written checkpoint (whatever the kill left, plus two made here) is never picked.
    fake_nimg = 10**9
    half = root / f".tmp-kimg-999999.000-{os.getpid():08x}"
    half.mkdir(exist_ok=True)
    (half / "state.json").write_text(json.dumps({"cur_nimg": fake_nimg}))
    (half / "generator.safetensors").write_bytes((latest / "generator.safetensors").read_bytes()[:100])
    incomplete = root / "kimg-999999.000"
    incomplete.mkdir()
    (incomplete / "state.json").write_text(json.dumps({"cur_nimg": fake_nimg}))
    assert latest_checkpoint(root) == latest
    assert all(not p.name.startswith(".") and p != incomplete for _, p in list_checkpoints(root))
    # The crashed run continues (here in 1 process, same global batch) from that checkpoint, and the
    # leftovers of interrupted writes are cleaned up by the next save.
    result = run_cli(["train", "--preset", "mnist-mlp", "--run-dir", str(run_dir), *TINY,
                      f"train.batch_size={GLOBAL}", "train.max_kimg=100", EVERY_STEP, "train.keep=1000",
                      "train.resume=auto", "train.stop_after_steps=1"], env)
    assert_ok(result)
    assert f"resumed from {latest} at kimg" in result.stdout
    assert read_state(latest_checkpoint(root)).cur_nimg == state.cur_nimg + GLOBAL
    assert not list(root.glob(".tmp-*"))


# --------------------------------------------------------------------------- accelerate config files
@pytest.mark.parametrize("name, kind, processes, precision", [
    ("single_gpu", "NO", 1, "no"),
    ("multi_gpu_bf16", "MULTI_GPU", 8, "bf16"),
    ("multi_gpu_fp16", "MULTI_GPU", 8, "fp16"),
    ("multi_node", "MULTI_GPU", 16, "bf16"),
    ("cpu_2proc", "MULTI_GPU", 2, "no"),
])
def test_accelerate_config_files_load(name, kind, processes, precision):
    """Each file in accelerate_configs/ is one `accelerate launch --config_file` accepts (no unknown
    keys), says what its name says, and explains itself in comments."""
    from accelerate.commands.config.config_args import ClusterConfig

    path = Path(__file__).resolve().parents[1] / "accelerate_configs" / f"{name}.yaml"
    config = ClusterConfig.from_yaml_file(str(path))
    assert (config.distributed_type.value, config.num_processes, config.mixed_precision) == (
        kind, processes, precision)
    assert config.dynamo_config is None or config.dynamo_config.get("dynamo_backend", "NO").upper() == "NO"
    assert path.read_text().startswith("#") and "accelerate launch --config_file" in path.read_text()


# --------------------------------------------------------------------------- in-process unit tests
def _trainer(mnist_root, *overrides, preset="mnist-mlp"):
    from ganscale.run import build_accelerator
    from ganscale.trainer import Trainer

    cfg = load_config(preset, overrides=[f"data.root={mnist_root}", "log.progress=false", *overrides])
    trainer = Trainer(cfg, build_accelerator(cfg))
    trainer.start_data()
    return trainer


def _weights(trainer) -> dict[str, dict[str, torch.Tensor]]:
    return {"generator": trainer.G_plain.state_dict(), "discriminator": trainer.D_plain.state_dict(),
            "generator_ema": trainer.ema.state_dict()}


def test_mode_seeking_pairs_share_their_label(mnist_root):
    trainer = _trainer(mnist_root, "loss.mode_seeking=1.0", "train.batch_size=8", preset="mnist-cgan")
    (z, labels, _), = trainer.draw(0, salt=0)
    assert torch.equal(labels[0::2], labels[1::2]) and len(set(labels.tolist())) > 1
    assert not torch.equal(z[0::2], z[1::2])
    trainer.train_step()
    assert all(torch.isfinite(p).all() for p in trainer.G_plain.parameters())


def test_grad_accumulation_equals_the_larger_batch(mnist_root):
    """grad_accum=2 x batch b == grad_accum=1 x batch 2b: same images, same noise, same update."""
    # One after the other: accelerate's gradient-accumulation state is shared by all Accelerators.
    big = _trainer(mnist_root, f"train.batch_size={GLOBAL}")
    for _ in range(3):
        big.train_step()
    accumulated = _trainer(mnist_root, f"train.batch_size={B}", "train.grad_accum=2")
    for _ in range(3):
        accumulated.train_step()
    assert big.images_per_step == accumulated.images_per_step == GLOBAL
    assert big.cur_nimg == accumulated.cur_nimg == 3 * GLOBAL
    a, b = _weights(big), _weights(accumulated)
    for group in a:
        for key, value in a[group].items():
            other = b[group][key]
            rel = (value - other).norm() / value.norm()
            assert rel <= RTOL, f"{group}.{key}: relative difference {rel:.3g}"


@pytest.mark.parametrize("overrides", [
    [],
    ["loss.kind=wgan-gp", "optim.n_critic=2"],
    ["loss.r1_gamma=1", "loss.r1_every=1", "train.grad_accum=2"],
], ids=["kept-fakes", "wgan-gp-n_critic-2", "r1-grad-accum"])
def test_each_phase_gives_gradients_only_to_its_own_model(mnist_root, overrides):
    """D phase: G gets no .grad (fakes are detached); G phase: D gets no .grad (D runs unwrapped with
    requires_grad off, so under DDP its gradient hooks never fire); D's requires_grad is restored."""
    trainer = _trainer(mnist_root, f"train.batch_size={B}", *overrides)
    seen = []
    real_step = trainer._optimizer_step

    def record(optimizer, scaler, model, name, measure):
        seen.append((name, [p.grad is not None for p in trainer.G_plain.parameters()],
                     [p.grad is not None for p in trainer.D_plain.parameters()]))
        real_step(optimizer, scaler, model, name, measure)

    trainer._optimizer_step = record
    trainer.train_step(measure=True)
    trainer.train_step()
    n_critic = trainer.cfg.optim.n_critic
    assert [name for name, _, _ in seen] == (["D"] * n_critic + ["G"]) * 2
    for name, g_grads, d_grads in seen:
        if name == "D":
            assert all(d_grads) and not any(g_grads)
        else:
            assert all(g_grads) and not any(d_grads)
    assert all(p.requires_grad for p in trainer.D_plain.parameters())
