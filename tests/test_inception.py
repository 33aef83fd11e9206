"""Inception FID/KID/IS/PR through torch-fidelity: the weights (never unpickled, never downloaded here),
the numbers against torch-fidelity's own calculate_metrics, the cached reference, sharding, bad input.

Every Inception forward costs ~0.5 s per image on a CPU whatever the input size (torch-fidelity
resizes to 299), so the image sets are tiny (10-24 images) and the weights are random stand-ins in
the real file's layout (tests/fake_inception.py): same cost, same code path, meaningless values.
"""

from __future__ import annotations

import json
import pickle
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torch_fidelity
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3, FeatureExtractorInceptionV3

from ganscale.config import load_config
from ganscale.errors import UserError
from ganscale.eval import choice
from ganscale.eval.inception import EXTRACTOR, RgbImages, SafeInceptionV3, expected_layout, extractor
from ganscale.eval.inception_weights import FILE_NAME, URL, load_weights, locate_weights
from ganscale.eval.reference import inception_reference
from ganscale.sampling import to_uint8
from tests.fake_inception import fake_state_dict, write_fake_weights
from tests.helpers import TINY, accelerate_launch, assert_ok, run_cli
from tests.helpers import write_prepared as write_dataset

ALL = "fid,kid,isc,prc"


@pytest.fixture
def weights(tmp_path) -> Path:
    return write_fake_weights(tmp_path / "inception.pth")


@pytest.fixture
def no_hub(tmp_path, monkeypatch):
    """No weights in torch hub's cache, no environment variable, offline flags cleared."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    for name in ("GANSCALE_INCEPTION_WEIGHTS", "GANSCALE_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "torch-home" / "hub" / "checkpoints" / FILE_NAME


def forbid_pickle(monkeypatch) -> list[dict]:
    """The standard library's pickle raises; torch.load is only allowed with weights_only=True."""
    def refuse(*args, **kwargs):
        raise AssertionError("pickle used while loading the Inception weights")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    calls, real_load = [], torch.load

    def checked_load(*args, **kwargs):
        calls.append(kwargs)
        assert kwargs.get("weights_only") is True, kwargs
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", checked_load)
    return calls


# --- the weights -----------------------------------------------------------------------------------

def test_the_file_and_url_are_torch_fidelitys():
    assert URL == URL_INCEPTION_V3 and FILE_NAME == "weights-inception-2015-12-05-6726825d.pth"
    assert len(expected_layout()) == 566 and expected_layout()["fc.weight"] == (1008, 2048)


@pytest.mark.slow
def test_the_test_weights_are_in_torch_fidelitys_format_and_give_its_features(weights):
    """torch-fidelity's own extractor loads the file (it unpickles: the test's own file) and
    computes the same features as ganscale's, which reads it with weights_only=True."""
    layers = ["2048", "logits_unbiased"]
    path = str(weights)
    theirs = FeatureExtractorInceptionV3("inception-v3-compat", layers, feature_extractor_weights_path=path)
    ours = SafeInceptionV3(EXTRACTOR, layers, feature_extractor_weights_path=path)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=gen)
    expected, got = theirs(images), ours(images)
    for a, b in zip(expected, got, strict=True):
        assert torch.equal(a, b)
    assert got[0].std(dim=0).mean() > 1e-4  # the stand-in weights tell images apart


def test_weights_load_with_pickle_disabled(tmp_path, monkeypatch):
    state = fake_state_dict(seed=1)
    pth = write_fake_weights(tmp_path / "w.pth", state=state)
    copy = write_fake_weights(tmp_path / "w.safetensors", state=state)
    calls = forbid_pickle(monkeypatch)
    # A conversion without BatchNorm's update counters (unused in eval mode) loads too.
    bare = write_fake_weights(tmp_path / "bare.pth", state={k: v for k, v in state.items()
                                                           if not k.endswith("num_batches_tracked")})
    for path in (pth, copy, bare):
        model = SafeInceptionV3(EXTRACTOR, ["2048"], feature_extractor_weights_path=str(path))
        assert torch.equal(model.fc.weight, state["fc.weight"])
    assert len(calls) == 2  # each .pth once, with weights_only=True; the safetensors copy needs none


@pytest.mark.parametrize("damage, message", [
    (lambda s: s.pop("fc.bias"), "1 missing keys \\(e.g. fc.bias\\)"),
    (lambda s: s.update(extra=torch.zeros(1)), "1 unexpected keys \\(e.g. extra\\)"),
    (lambda s: s.update({"fc.weight": torch.zeros(10, 2048)}),
     "fc.weight \\[10, 2048\\] instead of \\[1008, 2048\\]"),
])
def test_a_file_that_is_not_inceptions_is_one_line(tmp_path, damage, message):
    state = fake_state_dict()
    damage(state)
    path = write_fake_weights(tmp_path / "other.pth", state=state)
    expected = f"other.pth: not torch-fidelity's Inception-v3 weights: .*{message}"
    with pytest.raises(UserError, match=expected) as err:
        SafeInceptionV3(EXTRACTOR, ["2048"], feature_extractor_weights_path=str(path))
    assert "\n" not in str(err.value) and FILE_NAME in str(err.value)


class Gadget:
    """Not a tensor: a weights_only load refuses to rebuild it (a pickle could run code here)."""


def test_an_unreadable_or_code_carrying_file_is_refused_without_unpickling(tmp_path, monkeypatch):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file at all")
    code = tmp_path / "code.pth"
    torch.save({"fc.weight": Gadget()}, code)
    forbid_pickle(monkeypatch)
    for path in (garbage, code):
        with pytest.raises(UserError, match=f"{path.name}: not a readable Inception weights file") as err:
            load_weights(path)
        assert "\n" not in str(err.value)


def test_where_the_weights_are_found(tmp_path, no_hub, monkeypatch, weights):
    assert locate_weights(str(weights)) == weights
    monkeypatch.setenv("GANSCALE_INCEPTION_WEIGHTS", str(weights))
    assert locate_weights("") == weights
    with pytest.raises(UserError, match="eval.inception_weights=/nowhere.pth: no such file"):
        locate_weights("/nowhere.pth")
    monkeypatch.delenv("GANSCALE_INCEPTION_WEIGHTS")
    write_fake_weights(no_hub)  # torch hub's cache, where torch-fidelity itself would keep it
    assert locate_weights("") == no_hub


@pytest.mark.parametrize("flag", ["GANSCALE_OFFLINE", "HF_HUB_OFFLINE"])
def test_missing_weights_offline_name_the_file_the_url_and_the_place(no_hub, monkeypatch, flag):
    monkeypatch.setenv(flag, "1")
    with pytest.raises(UserError) as err:
        locate_weights("")
    text = str(err.value)
    assert f"offline: {' or '.join(('GANSCALE_OFFLINE', 'HF_HUB_OFFLINE'))} is set" in text
    assert FILE_NAME in text and URL in text and f"put it at {no_hub}" in text and "\n" not in text
    assert "eval.inception_weights=PATH" in text and "$GANSCALE_INCEPTION_WEIGHTS" in text


def test_a_failed_download_says_the_same(no_hub, monkeypatch):
    def unreachable(url, dst, **kwargs):
        assert url == URL and dst == str(no_hub) and kwargs["hash_prefix"] == "6726825d"
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", unreachable)
    expected = "download failed: <urlopen error Name or service not known>.*put it at"
    with pytest.raises(UserError, match=expected):
        locate_weights("")


# --- what the chosen metrics can score, checked with the config ------------------------------------

def test_auto_metrics_and_best(tmp_path):
    write_dataset(tmp_path / "rgb", count=16, channels=3, resolution=32)
    mnist = load_config("mnist-dcgan-plain", overrides=["eval.at_end=true"])
    assert choice.selected(mnist) == ("mnist",) and choice.best_key(mnist) == ("fid", False)
    rgb = load_config("mnist-dcgan-plain", overrides=[f"data.path={tmp_path / 'rgb'}", "eval.at_end=true"])
    assert choice.selected(rgb) == ("fid", "kid") and choice.best_key(rgb) == ("fid_inception", False)
    best = load_config("mnist-dcgan-plain", overrides=[f"data.path={tmp_path / 'rgb'}", f"eval.metrics={ALL}",
                                                       "eval.best=f_score_inception"])
    assert choice.best_key(best) == ("f_score_inception", True)
    both = load_config("mnist-dcgan-plain", overrides=["eval.metrics=mnist,fid", "eval.best=fid_inception"])
    assert choice.by_evaluator(choice.selected(both)) == {"mnist": ("mnist",), "inception": ("fid",)}


@pytest.mark.parametrize("overrides, message", [
    (["eval.metrics=mnist"], "eval.metrics=mnist: the MNIST evaluator scores grey digits \\(1 channel\\) "
                             "against the MNIST test set, and this data has 3"),
    (["eval.metrics=fid,fdi"], "eval.metrics='fid,fdi': unknown metric 'fdi'; choose auto or a "
                               "comma-separated list of: mnist, fid, kid, isc, prc"),
    (["eval.metrics=fid,kid", "eval.best=fid"], "eval.best=fid: eval.metrics=fid,kid does not report it; "
                                                "choose auto or one of: fid_inception, kid_inception"),
    (["eval.num=5"], "eval.num=5: the Inception metrics need at least 10 samples"),
])
def test_metrics_that_cannot_score_the_data_are_refused_up_front(tmp_path, overrides, message):
    write_dataset(tmp_path / "rgb", count=16, channels=3, resolution=32)
    with pytest.raises(UserError, match=message):
        load_config("mnist-dcgan-plain", overrides=[f"data.path={tmp_path / 'rgb'}", "eval.at_end=true",
                                                    *overrides])


def test_grey_images_are_repeated_to_rgb_which_torch_fidelity_needs(weights):
    grey = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    item = RgbImages(grey)[1]
    assert item.shape == (3, 28, 28) and all(torch.equal(item[c], grey[1, 0]) for c in range(3))
    model = SafeInceptionV3(EXTRACTOR, ["2048"], feature_extractor_weights_path=str(weights))
    with pytest.raises(ValueError, match="Input is not Bx3xHxW"):  # torch-fidelity's own extractor refuses
        model(grey)
    with pytest.raises(UserError, match="uint8 images \\[N, 1 or 3, H, W\\]"):
        RgbImages(torch.zeros(4, 2, 8, 8, dtype=torch.uint8))


# --- the numbers, the reference cache ------------------------------------------------------------

@pytest.mark.slow
def test_ganscales_numbers_equal_torch_fidelitys_calculate_metrics(tmp_path, weights, monkeypatch):
    from ganscale.eval.inception_metrics import score

    monkeypatch.setenv("GANSCALE_CACHE", str(tmp_path / "cache"))
    reference, _ = write_dataset(tmp_path / "rgb", count=10, channels=3, resolution=32)
    cfg = load_config("mnist-dcgan-plain", overrides=[f"data.path={tmp_path / 'rgb'}", f"eval.metrics={ALL}",
                                                      f"eval.inception_weights={weights}"])
    gen = torch.Generator().manual_seed(3)
    noise = 0.02 * torch.randn(10, 3, 32, 32, generator=gen)  # near the reference: some overlap
    images = torch.from_numpy(reference).float() / 127.5 - 1 + noise
    ours = score(images.clamp(-1, 1), None, cfg, ("fid", "kid", "isc", "prc"))
    theirs = torch_fidelity.calculate_metrics(
        input1=RgbImages(to_uint8(images.clamp(-1, 1))), input2=RgbImages(torch.from_numpy(reference)),
        fid=True, kid=True, isc=True, prc=True, feature_extractor=EXTRACTOR,
        feature_extractor_weights_path=str(weights), cuda=False, cache=False, verbose=False,
        save_cpu_ram=True, kid_subset_size=10)
    assert ours["fid_inception"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-9)
    assert ours["kid_inception"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-9)
    assert ours["kid_inception_std"] == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-9)
    assert ours["isc_inception"] == pytest.approx(theirs["inception_score_mean"], rel=1e-9)
    for key in ("precision", "recall", "f_score"):
        assert ours[f"{key}_inception"] == pytest.approx(theirs[key], rel=1e-9)
    assert ours["fid_inception"] > 0 and ours["recall_inception"] > 0  # not a degenerate comparison


class Counter:
    """Counts the images the extractor sees (a forward hook: torch's seam, nothing replaced)."""

    def __init__(self, model):
        self.images = 0
        self.handle = model.register_forward_hook(lambda m, args, out: self.add(len(args[0])))

    def add(self, n):
        self.images += n


@pytest.mark.slow
def test_reference_is_cached_reused_and_recomputed_for_a_changed_checksum(tmp_path, weights, monkeypatch,
                                                                        capsys):
    monkeypatch.setenv("GANSCALE_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "rgb"
    write_dataset(data, count=16, channels=3, resolution=32)
    model = extractor(weights, torch.device("cpu"))
    counter = Counter(model)

    def reprepare(seed: int, stale: bytes | None = None, blocked: Path | None = None) -> None:
        """Prepare the folder again with other images (it is replaced whole), leaving a stale cache
        file in it, or a folder where the cache file would go (it cannot be written there)."""
        write_dataset(data, count=16, channels=3, resolution=32, seed=seed)
        if stale is not None:
            first.path.write_bytes(stale)
        if blocked is not None:
            blocked.mkdir()
        capsys.readouterr()

    try:
        first = inception_reference(data, model, num=10)  # a seeded 10 of the 16
        assert counter.images == 10 and first.path.parent == data
        assert first.features["2048"].shape == (10, 2048)
        again = inception_reference(data, model, num=10)
        assert counter.images == 10 and torch.equal(again.features["2048"], first.features["2048"])
        assert np.array_equal(again.fid_stats["sigma"], first.fid_stats["sigma"])

        reprepare(seed=1, stale=first.path.read_bytes())
        changed = inception_reference(data, model, num=10)
        err = capsys.readouterr().err
        assert f"{first.path}: made for dataset checksum {first.dataset_sha256[:12]}, the dataset now has " \
               f"{changed.dataset_sha256[:12]}: recomputing the Inception reference" in err
        assert counter.images == 20 and changed.path == first.path
        assert not torch.equal(changed.features["2048"], first.features["2048"])

        reprepare(seed=2, blocked=first.path)  # a folder that cannot take the file: the user cache does
        elsewhere = inception_reference(data, model, num=10)
        assert counter.images == 30
        assert elsewhere.path.is_relative_to(tmp_path / "cache" / "inception-reference")
        assert f"cannot cache the Inception reference at {first.path}" in capsys.readouterr().err
        reused = inception_reference(data, model, num=10)
        assert torch.equal(reused.features["2048"], elsewhere.features["2048"])
        assert counter.images == 30

        reprepare(seed=3, blocked=first.path)  # the user cache's entry is checked against the checksum too
        inception_reference(data, model, num=10)
        assert counter.images == 40 and "recomputing" in capsys.readouterr().err
    finally:
        counter.handle.remove()


# --- end to end through the CLI --------------------------------------------------------------------

@pytest.fixture(scope="module")
def rgb_run(tmp_path_factory, mnist_root):
    """A few steps of DCGAN on a prepared 3x32x32 dataset, scored with every Inception metric at the end."""
    import os

    tmp = tmp_path_factory.mktemp("inception")
    write_dataset(tmp / "rgb", count=24, channels=3, resolution=32)
    weights = write_fake_weights(tmp / "inception.pth")
    env = {**os.environ, "GANSCALE_DATA": str(mnist_root), "WANDB_MODE": "offline", "OMP_NUM_THREADS": "2",
           "GANSCALE_CACHE": str(tmp / "cache"), "TORCH_HOME": str(tmp / "torch"), "GANSCALE_OFFLINE": "1",
           "GANSCALE_INCEPTION_WEIGHTS": str(weights)}
    run_dir = tmp / "run"
    assert_ok(run_cli(["train", "--preset", "mnist-dcgan-plain", "--run-dir", str(run_dir), *TINY,
                       f"data.path={tmp / 'rgb'}", "train.batch_size=8", "train.max_kimg=0.016",
                       "eval.at_end=true", "eval.num=12", f"eval.metrics={ALL}", "eval.best=kid_inception"],
                      env))
    return run_dir, env, tmp


@pytest.mark.slow
def test_training_logs_inception_metrics_and_keeps_the_best_by_eval_best(rgb_run):
    run_dir, _, tmp = rgb_run
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    (evals,) = [row for row in rows if "eval/fid_inception" in row]
    assert {"eval/kid_inception", "eval/isc_inception", "eval/precision_inception", "eval/recall_inception",
            "eval/f_score_inception"} <= set(evals) and "eval/fid" not in evals
    (best,) = (run_dir / "best").iterdir()
    kept = json.loads((best / "state.json").read_text())["metrics"]
    assert kept["kid_inception"] == evals["eval/kid_inception"]
    assert list((tmp / "rgb").glob("inception-reference-*-24.safetensors"))  # cached beside the dataset


@pytest.mark.slow
def test_evaluate_cli_and_sharded_evaluation_equals_one_process(rgb_run):
    run_dir, env, _ = rgb_run
    args = ["evaluate", "--checkpoint", str(run_dir), "--num", "13", "--metrics", ALL, "--json"]  # 13: uneven
    single = run_cli(args, env)
    assert_ok(single)
    one = json.loads(single.stdout.strip().splitlines()[-1])
    sharded = accelerate_launch(args, env)
    assert_ok(sharded)
    two = json.loads(sharded.stdout.strip().splitlines()[-1])
    assert one["processes"] == 1 and two["processes"] == 2 and one["num"] == 13
    keys = {"fid_inception", "kid_inception", "kid_inception_std", "isc_inception", "isc_inception_std",
            "precision_inception", "recall_inception", "f_score_inception"}
    assert keys <= set(one)
    for key in keys:
        assert two[key] == pytest.approx(one[key], rel=1e-6, abs=1e-9), key


@pytest.mark.slow
def test_bad_weights_stop_training_and_evaluation_before_anything_runs(rgb_run, tmp_path):
    run_dir, env, tmp = rgb_run
    offline = {k: v for k, v in env.items() if k != "GANSCALE_INCEPTION_WEIGHTS"}
    fresh = tmp_path / "fresh"
    result = run_cli(["train", "--preset", "mnist-dcgan-plain", "--run-dir", str(fresh), *TINY,
                      f"data.path={tmp / 'rgb'}", "eval.at_end=true", "eval.num=12"], offline)
    assert result.returncode == 2 and FILE_NAME in result.stderr and URL in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not fresh.exists()
    other = write_fake_weights(tmp_path / "other.pth", state={"fc.weight": torch.zeros(10, 2048)})
    bad = run_cli(["evaluate", "--checkpoint", str(run_dir), "--num", "12",
                   "--inception-weights", str(other)], env)
    assert bad.returncode == 2 and "other.pth: not torch-fidelity's Inception-v3 weights" in bad.stderr


@pytest.mark.slow
def test_mnist_keeps_its_evaluator_and_gets_inception_fid_beside_it(tmp_path, cli_env, weights):
    env = {**cli_env, "GANSCALE_CACHE": str(tmp_path / "cache"), "GANSCALE_INCEPTION_WEIGHTS": str(weights)}
    run_dir = tmp_path / "mnist"
    result = run_cli(["train", "--preset", "mnist-dcgan-plain", "--run-dir", str(run_dir), *TINY,
                      "train.max_kimg=0.032", "eval.at_end=true", "eval.num=10", "eval.metrics=mnist,fid",
                      "eval.reference_num=10"], env)
    assert_ok(result)
    assert "grey samples are repeated to 3 channels" in result.stderr
    (evals,) = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
                if "eval/fid" in line]
    assert evals["eval/fid"] != evals["eval/fid_inception"] and "eval/classifier_score" in evals
    (best,) = (run_dir / "best").iterdir()  # eval.best=auto: the first metric's, FID-MNIST
    assert json.loads((best / "state.json").read_text())["metrics"]["fid"] == evals["eval/fid"]
