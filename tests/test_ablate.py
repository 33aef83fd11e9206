"""tools/ablate.py: every variant is `ganscale bench`'s Trainer with at most one hot-path option off."""

import pickle
from dataclasses import fields

import pytest

from ganscale.bench import Case
from ganscale.hot_path import HotPath
from tools.ablate import ABLATIONS, AblatedRunner, variant_specs

OPTIONS = {f.name for f in fields(HotPath)}
CASE = Case("mnist-dcgan-plain", 8)


def _switched_off(hot_path: HotPath) -> set[str]:
    return {name for name in OPTIONS if not getattr(hot_path, name)}


@pytest.fixture(scope="module")
def runners(mnist_root):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GANSCALE_DATA", str(mnist_root))
        built = {variant: AblatedRunner(CASE, variant) for variant in ABLATIONS}
    yield built
    for runner in built.values():
        runner.close()


def test_each_variant_builds_the_trainer_with_exactly_one_option_off(runners):
    off = {variant: _switched_off(runner.trainer.hot_path) for variant, runner in runners.items()}
    assert off.pop("full") == set()
    assert off.pop("item-every-step") == set()  # a host read-back the runner adds, not a Trainer option
    assert all(len(names) == 1 for names in off.values()), off
    assert set().union(*off.values()) == OPTIONS  # five variants, each a different option


def test_each_variant_trains_and_d_keeps_no_gradient_between_steps(runners):
    for variant, runner in runners.items():
        assert runner.step() == 8 and runner.trainer.step == 1, variant
        # d-grads-in-g-phase: D's G-phase gradients are cleared like the textbook's next D.zero_grad()
        assert all(p.grad is None for p in runner.trainer.D_plain.parameters()), variant


def test_variant_specs_cross_into_a_spawned_process():
    specs = variant_specs(CASE, ["full", "no-channels-last"])
    copies = pickle.loads(pickle.dumps(specs))
    assert [s.runner for s in copies] == ["full", "no-channels-last"]
    assert [s.make.func for s in copies] == [AblatedRunner, AblatedRunner]
    assert [s.make.keywords for s in copies] == [{"ablation": "full"}, {"ablation": "no-channels-last"}]
    assert all(s.case == CASE for s in copies)
