"""Differentiable augmentation of everything D sees (issue 19): the ops, p, ADA's controller, what D is
fed in each phase and penalty, the config's one-line errors, and a short run that logs, saves and resumes
p exactly. The 2-process equivalence and resume runs are in test_distributed.py (the `aug` jobs)."""

from __future__ import annotations

import json

import pytest
import torch

from ganscale.ada import AdaptiveP
from ganscale.augment import PRIMITIVES, UpdateAugment, apply, diff_augment, draw_params
from ganscale.augmented_d import SALTS
from ganscale.checkpoint import TrainState, read_state
from ganscale.config import AugConfig, config_from_dict, load_config
from ganscale.config_sections import AUG_OPS
from ganscale.data import make_batches
from ganscale.errors import UserError
from tests.helpers import TINY, assert_ok, checkpoint_tensors, latest_checkpoint_dir, run_cli

ALL = ("translation", "cutout", "color")


def images(n=6, c=3, size=16, seed=0, dtype=torch.float32) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(n, c, size, size, generator=gen, dtype=dtype) * 2 - 1).clamp(-1, 1)


def params_for(ops, x, seed=1):
    return draw_params(ops, len(x), tuple(x.shape[-2:]), torch.Generator().manual_seed(seed), x.device)


# --------------------------------------------------------------------------- the ops
@pytest.mark.parametrize("op", AUG_OPS)
def test_each_op_keeps_shape_and_range_and_changes_the_images(op):
    x = images(n=64)
    x[:8] = 1.0  # saturated images: brightness and contrast push them out, the clamp brings them back
    x[8:16] = -1.0
    out = apply(x, (op,), params_for((op,), x), 1.0)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= -1.0 and out.max() <= 1.0
    changed = (out != x).flatten(1).any(dim=1)
    assert changed.float().mean() > 0.5, f"{op} left most images as they were"


@pytest.mark.parametrize("op", AUG_OPS)
def test_each_op_is_differentiable(op):
    """Analytic gradients equal finite differences (float64), and they reach the input."""
    x = (images(n=3, size=8, dtype=torch.float64) * 0.3).requires_grad_(True)  # inside the clamp
    params = params_for((op,), x)
    assert torch.autograd.gradcheck(lambda t: apply(t, (op,), params, 1.0), (x,))
    (grad,) = torch.autograd.grad(apply(x, (op,), params, 1.0).square().sum(), x)
    assert grad.abs().sum() > 0


def test_translation_shifts_with_zero_padding_and_cutout_blanks_half_the_size():
    x = images(n=2, c=1, size=16)
    shift = torch.tensor([[2, -1], [0, 0]])  # (dy, dx)
    params = {"translation": (torch.zeros(2), shift)}
    out = apply(x, ("translation",), params, 1.0)
    expected = torch.zeros_like(x[0])
    expected[:, 2:, :15] = x[0, :, :14, 1:]  # down 2, left 1
    assert torch.equal(out[0], expected) and torch.equal(out[1], x[1])
    centre = torch.tensor([[8, 8], [0, 16]])  # 16: the largest centre DiffAugment draws
    out = apply(x, ("cutout",), {"cutout": (torch.zeros(2), centre)}, 1.0)
    zeros = (out == 0) & (x != 0)
    assert zeros[0].sum() == 8 * 8 and torch.equal(zeros[0, 0, 4:12, 4:12], torch.ones(8, 8, dtype=bool))
    assert zeros[1].sum() == 4 * 4 and zeros[1, 0, :4, 12:].all()  # a corner square is cut at the border


def test_p_zero_is_the_identity_and_p_picks_images():
    x = images(n=400, size=8)
    assert diff_augment(x, ALL, 0.0, torch.Generator()) is x
    assert apply(x, ALL, params_for(ALL, x), 0) is x and apply(x, (), {}, 1.0) is x
    tensor_zero = apply(x, ALL, params_for(ALL, x), torch.tensor(0.0, dtype=torch.float64))
    assert torch.equal(tensor_zero, x)
    half = apply(x, ("translation",), params_for(("translation",), x), torch.tensor(0.5))
    changed = (half != x).flatten(1).any(dim=1).float().mean()
    assert 0.3 < changed < 0.55  # p = 0.5, less the shifts of (0, 0) that change nothing


def test_the_update_draw_does_not_depend_on_world_size_or_micro_batches():
    """Each rank's slices of one draw for the global batch: 2 ranks x b x 2 micro == 1 rank x 4b."""
    b, size = 4, 16
    whole = UpdateAugment(ALL, size, seed=3, batch_size=4 * b, world=1, rank=0, grad_accum=1,
                          device="cpu").draw(position=640, salt=SALTS["real"])[0]
    parts = [UpdateAugment(ALL, size, seed=3, batch_size=b, world=2, rank=r, grad_accum=2,
                           device="cpu").draw(position=640, salt=SALTS["real"]) for r in (0, 1)]
    in_order = [parts[r][m] for m in (0, 1) for r in (0, 1)]  # positions: micro-major, then rank
    for name in sum((PRIMITIVES[op] for op in ALL), ()):
        for k in (0, 1):
            assert torch.equal(torch.cat([part[name][k] for part in in_order]), whole[name][k]), name
    x = images(n=4 * b, size=size)
    split = torch.cat([apply(x[i * b:(i + 1) * b], ALL, part, 0.7) for i, part in enumerate(in_order)])
    assert torch.equal(split, apply(x, ALL, whole, 0.7))
    other_salt = UpdateAugment(ALL, size, 3, 4 * b, 1, 0, 1, "cpu").draw(640, SALTS["fake"])[0]
    assert not torch.equal(other_salt["translation"][1], whole["translation"][1])


# --------------------------------------------------------------------------- ADA's controller
def test_p_follows_the_sign_of_r_t_minus_the_target_in_steps_of_the_images_seen():
    cfg = AugConfig(policy="color", p=0.5, target=0.6, speed=1.0, every=2)
    ada = AdaptiveP(cfg, "cpu", reduce=lambda t: t)
    positive, negative = torch.ones(100), -torch.ones(100)
    ada.observe(positive)
    ada.end_step(1)
    assert float(ada.p) == 0.5  # not an adjustment step
    ada.observe(positive)
    ada.end_step(2)
    assert float(ada.p) == pytest.approx(0.5 + 200 / 1000)  # r_t = 1 > 0.6: up by 200 images / 1 kimg
    for step in (3, 4):
        ada.observe(negative)
        ada.observe(positive[:10])  # r_t = -90 / 110 < 0.6
        ada.end_step(step)
    assert float(ada.p) == pytest.approx(0.7 - 220 / 1000)
    for step in range(5, 20):
        ada.observe(negative)
        ada.end_step(step)
    assert float(ada.p) == 0.0  # clamped
    assert ada.log_values() == {"aug_p": 0.0, "aug_rt": pytest.approx((200 - 180 - 1500) / 1920)}


def test_a_fixed_p_never_moves_but_r_t_is_still_logged():
    ada = AdaptiveP(AugConfig(policy="color", p=0.3, target=0.0), "cpu", reduce=lambda t: t)
    for step in range(1, 9):
        ada.observe(torch.tensor([2.0, -1.0, 3.0, 0.5]))
        ada.end_step(step)
    assert ada.log_values() == {"aug_p": pytest.approx(0.3), "aug_rt": 0.5}


def test_the_controller_state_round_trips_and_old_checkpoints_start_from_the_config():
    cfg = AugConfig(policy="color", p=0.1, target=0.6, speed=0.5, every=3)
    ada = AdaptiveP(cfg, "cpu", reduce=lambda t: t)
    for step in range(1, 6):
        ada.observe(torch.ones(32))
        ada.end_step(step)
    saved = json.loads(json.dumps(ada.state()))
    copy = AdaptiveP(cfg, "cpu", reduce=lambda t: t)
    copy.load_state(saved["aug_p"], saved["aug_sums"])
    assert torch.equal(copy.p, ada.p) and torch.equal(copy.sums, ada.sums) and float(ada.p) != 0.1
    old = TrainState.from_json({"step": 4, "cur_nimg": 64})
    assert old.aug_p is None and old.aug_sums == []
    fresh = AdaptiveP(cfg, "cpu", reduce=lambda t: t)
    fresh.load_state(old.aug_p, old.aug_sums)
    assert float(fresh.p) == pytest.approx(0.1) and not fresh.sums.any()


# --------------------------------------------------------------------------- what D sees
def _recording_trainer(mnist_root, *overrides):
    from ganscale.run import build_accelerator
    from ganscale.trainer import Trainer

    cfg = load_config("mnist-mlp", overrides=[f"data.root={mnist_root}", "log.progress=false",
                                              "model.arch=tests.recording_arch:build", "train.batch_size=8",
                                              *overrides])
    trainer = Trainer(cfg, build_accelerator(cfg))
    trainer.start_data()
    return trainer, cfg


@pytest.mark.parametrize("loss", ["r1", "wgan-gp", "off"])
def test_d_sees_augmented_reals_and_fakes_in_both_phases_and_in_the_penalties(mnist_root, loss):
    """D's inputs, recorded by the model itself: the D phase's reals and fakes, WGAN-GP's mixes and the G
    phase's fakes are each the expected augmentation (own salt) of what they augment; R1's reals reach D
    through the augmentation's graph. `off`: D gets the very images, so the expectations are sound."""
    aug = [] if loss == "off" else ["aug.policy=translation,cutout,color", "aug.p=1", "aug.target=0"]
    kind = {"r1": ["loss.r1_gamma=1", "loss.r1_every=1"], "wgan-gp": ["loss.kind=wgan-gp"], "off": []}[loss]
    trainer, cfg = _recording_trainer(mnist_root, *aug, *kind)
    trainer.train_step()
    seen, made = trainer.D_plain.inputs, trainer.G_plain.outputs
    real, _ = next(make_batches(cfg.data, cfg.model, batch_size=8, rank=0, world=1, seed=0,
                                device=torch.device("cpu")))
    ops, b = cfg.aug.ops(), cfg.train.batch_size

    def augmented(x, position, kind):
        params = UpdateAugment(ops, 28, 0, b, 1, 0, 1, "cpu").draw(position, SALTS[kind])[0]
        return apply(x, ops, params, 1.0)

    expected = [augmented(real, 0, "real"), augmented(made[0], 0, "fake")]
    if loss == "wgan-gp":
        alpha = trainer.draw(0, salt=0)[0][2]
        expected.append(augmented(alpha * real + (1 - alpha) * made[0], 0, "mix"))
    expected.append(augmented(made[0], b, "g_fake"))  # the G phase starts at image b
    assert len(seen) == len(expected) and len(made) == 1
    for i, (got, want) in enumerate(zip(seen, expected, strict=True)):
        assert torch.equal(got.detach(), want), f"D input {i}"
    if loss != "off":
        assert not any(torch.equal(got.detach(), real) for got in seen)
    if loss == "r1":  # the gradient R1 takes w.r.t. the real flows through the augmentation
        assert seen[0].requires_grad and seen[0].grad_fn is not None
    if loss == "off":
        assert torch.equal(seen[0], real) and not seen[0].requires_grad


# --------------------------------------------------------------------------- config
@pytest.mark.parametrize(("overrides", "message"), [
    (["aug.policy=translation,flip"], "aug.policy='translation,flip': unknown op 'flip'; use a comma list of "
                                      "color, translation, cutout, or none"),
    (["aug.policy=color,color"], "names an op twice"),
    (["aug.policy=color", "aug.p=1.5"], "aug.p=1.5 is out of range; must be <= 1.0"),
    (["aug.policy=color", "aug.p=-0.1"], "aug.p=-0.1 is out of range; must be >= 0.0"),
    (["aug.policy=color", "aug.target=1"], "aug.target=1.0 is out of range; must be in (0, 1) for an "
                                           "adaptive p, or 0 for a fixed aug.p"),
    (["aug.policy=color", "aug.target=-0.5"], "aug.target=-0.5 is out of range"),
    (["aug.p=0.5"], "aug.p=0.5 but aug.policy=none augments nothing"),
    (["aug.speed=0"], "aug.speed=0.0 is out of range; must be > 0.0"),
    (["aug.every=0"], "aug.every=0 is out of range; must be >= 1"),
])
def test_bad_augmentation_values_are_one_line_errors(overrides, message):
    with pytest.raises(UserError) as err:
        load_config("mnist-dcgan-plain", overrides=overrides)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_cli_refuses_an_unknown_op_with_status_2(cli_env, tmp_path):
    result = run_cli(["train", "--run-dir", str(tmp_path / "r"), "aug.policy=rotate"], cli_env)
    assert result.returncode == 2 and "unknown op 'rotate'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


def test_saved_configs_without_an_aug_section_get_the_defaults():
    tree = load_config("mnist-dcgan").to_dict()
    del tree["aug"]
    cfg = config_from_dict(tree)
    assert cfg.aug == AugConfig() and not cfg.aug.active() and cfg.aug.target == 0.6


# --------------------------------------------------------------------------- a short run
AUG = ["aug.policy=translation,cutout,color", "aug.p=0.5", "aug.target=0.6", "aug.speed=0.1", "aug.every=3"]
STEPS = 8


def test_a_run_logs_saves_and_resumes_p_exactly(cli_env, tmp_path):
    """p and r_t reach metrics.jsonl at each log step; a run stopped halfway (in the middle of an
    adjustment interval) and resumed ends bitwise equal to the straight one, with the same p."""
    common = ["--preset", "mnist-mlp", *TINY, f"train.max_kimg={STEPS * 16 / 1000}", *AUG]
    straight, halves = tmp_path / "straight", tmp_path / "halves"
    assert_ok(run_cli(["train", "--run-dir", str(straight), *common], cli_env))
    assert_ok(run_cli(["train", "--run-dir", str(halves), *common, "train.stop_after_steps=4"], cli_env))
    assert read_state(latest_checkpoint_dir(halves)).aug_sums[1] == 16  # one step into the interval
    assert_ok(run_cli(["train", "--run-dir", str(halves), *common, "train.resume=auto"], cli_env))
    logged = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    logged = [row for row in logged if "aug_p" in row]
    assert [row["step"] for row in logged] == [2, 4, 6, 8]
    assert all(-1 <= row["aug_rt"] <= 1 for row in logged)
    ps = [row["aug_p"] for row in logged]
    assert ps[0] == 0.5 and abs(abs(ps[1] - 0.5) - 0.48) < 1e-9  # moved at step 3 by 48 images / 0.1 kimg
    assert ps[2] != ps[1] and ps[3] == ps[2]  # and at step 6 (logged at 6, after that step)
    a, b = read_state(latest_checkpoint_dir(straight)), read_state(latest_checkpoint_dir(halves))
    assert a.aug_p == b.aug_p == ps[3] and a.aug_sums == b.aug_sums
    one, other = checkpoint_tensors(latest_checkpoint_dir(straight)), checkpoint_tensors(
        latest_checkpoint_dir(halves))
    for group, tensors in one.items():
        for key, value in tensors.items():
            assert torch.equal(value, other[group][key]), f"{group}.{key}"
