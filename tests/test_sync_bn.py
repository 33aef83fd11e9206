"""model.sync_bn: conversion before prepare, and a clear refusal where SyncBatchNorm cannot run."""

import pytest
import torch
from accelerate import Accelerator

from ganscale.config import load_config
from ganscale.trainer import Trainer
from tests.helpers import TINY, accelerate_launch


def test_sync_bn_converts_the_batchnorm_layers():
    cfg = load_config("mnist-dcgan64", overrides=["model.sync_bn=true"])
    trainer = Trainer(cfg, Accelerator(cpu=True))
    kinds = {type(m) for model in (trainer.G_plain, trainer.D_plain) for m in model.modules()}
    assert torch.nn.SyncBatchNorm in kinds
    assert not any(isinstance(m, torch.nn.BatchNorm2d) and not isinstance(m, torch.nn.SyncBatchNorm)
                   for model in (trainer.G_plain, trainer.D_plain) for m in model.modules())
    # G_ema stays a plain (non-synchronised) copy: it is never wrapped and never trained.
    assert torch.nn.SyncBatchNorm not in {type(m) for m in trainer.ema.model.modules()}


@pytest.mark.slow
def test_sync_bn_on_two_cpu_processes_is_a_clear_error(tmp_path, cli_env):
    result = accelerate_launch(["train", "--run-dir", str(tmp_path / "r"), *TINY, "model.sync_bn=true",
                                "train.max_kimg=0.1"], cli_env)
    assert result.returncode != 0
    assert "model.sync_bn=true needs CUDA GPUs" in result.stderr
    assert "Traceback" not in result.stderr.split("model.sync_bn=true needs")[0][-500:]
