"""Before the first step: which device a run takes, and settings refused before any training."""

import pytest
import torch

from ganscale.config import load_config
from ganscale.devices import best_device, force_cpu
from ganscale.errors import UserError
from ganscale.precision import check_supported


@pytest.mark.parametrize("cuda, mps, cpu_flag, device", [
    (True, False, False, "cuda"), (True, True, False, "cuda"), (False, True, False, "mps"),
    (False, False, True, "cpu")])
def test_cuda_then_mps_then_cpu(cuda, mps, cpu_flag, device):
    """Accelerate picks CUDA or MPS itself; cpu=True is forced only where neither exists."""
    assert force_cpu(cuda=cuda, mps=mps) is cpu_flag
    assert best_device(cuda=cuda, mps=mps) == torch.device(device)


def test_this_machine_without_cuda_forces_cpu_for_gloo():
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("has a GPU")  # the CPU-only recipe for multi-process tests
    assert force_cpu() is True


@pytest.mark.parametrize("device", ["cpu", "mps"])
def test_fp16_names_the_device_it_cannot_use(device):
    with pytest.raises(UserError, match=f"fp16 needs a CUDA GPU and this run's device is {device}"):
        check_supported("fp16", torch.device(device))
    check_supported("bf16", torch.device(device))


def _prepared(out, kind: str):
    import numpy as np

    from ganscale.data.prepared import PreparedWriter
    from ganscale.files import atomic_path

    with atomic_path(out, directory=True) as tmp:
        writer = PreparedWriter(tmp, channels=3, resolution=32, labelled=False)
        writer.add(np.zeros((4, 3, 32, 32), dtype=np.uint8))
        writer.finish(source={"kind": kind})
    return out


@pytest.mark.parametrize("overrides, message", [
    (["eval.at_end=true"], "eval.at_end=true: the built-in evaluation scores data.name=mnist and datasets "
                           "prepared as stacked-mnist only"),
    (["eval.every=5"], "eval.every: the built-in evaluation scores data.name=mnist"),
])
def test_evaluation_on_data_the_evaluator_cannot_score_is_refused_up_front(tmp_path, overrides, message):
    folder = [f"data.path={_prepared(tmp_path / 'faces', 'folder')}"]
    with pytest.raises(UserError, match=message):
        load_config("mnist-dcgan-plain", overrides=[*folder, *overrides])
    load_config("mnist-dcgan-plain", overrides=folder)  # without evaluation it is fine
    stacked = [f"data.path={_prepared(tmp_path / 'stacked', 'stacked-mnist')}"]
    assert load_config("stacked-mnist-r3gan", overrides=[*stacked, *overrides]).eval.num == 26000
