"""What a valid configuration is, and the one-line errors for everything else."""

import pytest

from ganscale.config import config_from_dict, load_config, preset_names
from ganscale.errors import UserError


def test_presets_ship_with_the_package():
    assert set(preset_names()) >= {"mnist-mlp", "mnist-dcgan", "mnist-dcgan64", "mnist-cgan"}


def test_mlp_preset_is_the_classic_recipe():
    cfg = load_config("mnist-mlp")
    assert cfg.model.arch == "mlp" and cfg.model.z_dim == 100
    assert (cfg.optim.lr_g, cfg.optim.lr_d, cfg.optim.beta1) == (2e-4, 2e-4, 0.5)


def test_keras_preset_is_the_tutorial_recipe():
    cfg = load_config("mnist-dcgan-keras")
    assert (cfg.model.arch, cfg.model.image_size, cfg.model.channels, cfg.loss.kind) == (
        "keras-dcgan", 28, 1, "nonsaturating")
    assert (cfg.optim.lr_g, cfg.optim.lr_d, cfg.optim.beta1, cfg.optim.beta2) == (2e-4, 2e-4, 0.5, 0.999)


def test_overrides_are_typed():
    cfg = load_config("mnist-dcgan", overrides=["train.batch_size=128", "optim.lr_d=1e-3", "train.max_kimg=2",
                                                "loss.kind=hinge", "model.sync_bn=false"])
    assert cfg.train.batch_size == 128 and cfg.optim.lr_d == 1e-3
    assert isinstance(cfg.train.max_kimg, float) and cfg.loss.kind == "hinge"


def test_config_file_then_overrides(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("train:\n  batch_size: 32\n  max_kimg: 5\nloss:\n  kind: lsgan\n")
    cfg = load_config("mnist-dcgan", str(path), ["train.batch_size=8"])
    assert (cfg.train.batch_size, cfg.train.max_kimg, cfg.loss.kind) == (8, 5.0, "lsgan")


def test_no_and_off_stay_strings(tmp_path):
    """YAML 1.1 would read `no` as False; mixed_precision=no is the documented way to turn it off."""
    assert load_config("mnist-dcgan", overrides=["train.mixed_precision=no"]).train.mixed_precision == "no"
    path = tmp_path / "fp32.yaml"
    path.write_text("train:\n  mixed_precision: no\n")
    assert load_config("mnist-dcgan", str(path)).train.mixed_precision == "no"


def test_round_trip_through_dict():
    cfg = load_config("mnist-cgan", overrides=["train.seed=7"])
    assert config_from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(("overrides", "message"), [
    (["train.batch_size=0"], "train.batch_size=0 is out of range; must be >= 1"),
    (["train.batch_size=-4"], "must be >= 1"),
    (["optim.lr_g=0"], "optim.lr_g=0.0 is out of range; must be > 0.0"),
    (["optim.lr_d=-1e-4"], "must be > 0.0"),
    (["optim.n_critic=0"], "optim.n_critic=0 is out of range"),
    (["train.batch_size=abc"], "train.batch_size='abc': expected int"),
    (["train.batch_size=1.5"], "expected int"),
    (["train.compile=yes"], "train.compile='yes': expected true or false"),
    (["loss.kind=wasserstein"], "loss.kind='wasserstein' is not allowed; choose one of: nonsaturating"),
    (["train.mixed_precision=fp8"], "choose one of: no, bf16, fp16"),
    (["train.bogus=1"], "unknown key 'train.bogus'"),
    (["nosection.key=1"], "unknown config section 'nosection'"),
    (["batch_size"], "bad override 'batch_size'"),
    (["model.arch=cgan"], "arch cgan needs >= 2 classes"),
    (["model.image_size=64"], "arch dcgan needs 28"),
    (["model.arch=dcgan64"], "model.image_size=28: arch dcgan64 needs 64"),
    (["model.arch=resnet"], "model.arch='resnet' is not allowed; choose one of: dcgan, cgan, dcgan64"),
    (["model.arch=keras-dcgan", "model.channels=3"], "model.channels=3: arch keras-dcgan needs 1"),
    (["model.num_classes=10"], "model.num_classes=10: arch dcgan is unconditional (use 0); conditional:"),
    (["model.arch=my gan:build"], "model.arch='my gan:build' is not a user architecture name"),
    (["model.arch=mlp", "model.d_mbstd=4"], "model.d_mbstd=4: minibatch stddev is built into arch dcgan"),
    (["model.latent_codes=1"], "model.latent_codes=1: needs arch dcgan and 2 <= codes <= z_dim"),
    (["model.arch=mlp", "model.latent_codes=10"], "arch is mlp"),
    (["optim.lr_decay=step"], "optim.lr_decay='step' is not allowed; choose one of: none, linear, cosine"),
    (["model.sync_bn=true", "model.g_norm=none", "model.d_norm=none"], "neither g_norm nor d_norm is batch"),
    (["train.compile=true", "loss.r1_gamma=0.5"], "train.compile=true with loss.r1_gamma=0.5: a gradient "
     "penalty differentiates D twice and torch.compile does not support double backward"),
    (["train.compile=true", "loss.kind=wgan-gp"], "with loss.kind=wgan-gp (gp_weight=10.0)"),
    (["train.compile=true", "loss.kind=wgan-gp", "loss.gp_weight=0"], "wgan-gp (gp_weight=0.0)"),
])
def test_bad_values_name_the_value_and_what_is_allowed(overrides, message):
    with pytest.raises(UserError, match=None) as err:
        load_config("mnist-dcgan-plain", overrides=overrides)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_compile_without_penalties_is_allowed():
    assert load_config("mnist-dcgan-plain", overrides=["train.compile=true", "loss.kind=hinge"]).train.compile


def test_train_help_lists_every_preset(capsys):
    from ganscale.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = "".join(capsys.readouterr().out.split())  # argparse may wrap a name at its hyphen
    assert all(name in help_text for name in preset_names())


def test_unknown_preset_lists_the_allowed_ones():
    with pytest.raises(UserError) as err:
        load_config("mnist-foo")
    assert str(err.value) == f"unknown preset 'mnist-foo'; allowed: {', '.join(preset_names())}"
    assert "mnist-cgan, mnist-dcgan" in str(err.value)


def test_bad_config_files(tmp_path):
    with pytest.raises(UserError, match="file not found"):
        load_config("mnist-dcgan", str(tmp_path / "missing.yaml"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("train: [1, 2\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config("mnist-dcgan", str(broken))
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("train:\n  epochs: 3\n")
    with pytest.raises(UserError, match="unknown key 'train.epochs'"):
        load_config("mnist-dcgan", str(wrong))


def test_lr_factor_shapes():
    from ganscale.lr_schedule import lr_factor

    assert [lr_factor("none", n, 10, 0.0) for n in (0, 5000, 20000)] == [1.0, 1.0, 1.0]
    linear = [lr_factor("linear", n, 10, 0.2) for n in (0, 5000, 10000, 20000)]
    assert linear == pytest.approx([1, 0.6, 0.2, 0.2])
    assert lr_factor("cosine", 0, 10, 0.0) == 1.0 and abs(lr_factor("cosine", 5000, 10, 0.0) - 0.5) < 1e-12
    assert lr_factor("cosine", 10000, 10, 0.05) == 0.05


def test_checkpoints_of_earlier_versions_stay_resumable():
    """The fingerprint the first release wrote for the default model (before model.d_mbstd existed)."""
    assert load_config("mnist-dcgan-plain").fingerprint() == "2f13b539aa84a954"
    assert load_config("mnist-dcgan-plain", overrides=["model.d_mbstd=4"]).fingerprint() != "2f13b539aa84a954"
