"""Before the first step: which device a run takes, and settings refused before any training."""

import pytest
import torch

from ganscale.config import load_config
from ganscale.devices import best_device, force_cpu
from ganscale.errors import UserError
from ganscale.precision import check_supported
from tests.helpers import write_prepared


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


@pytest.mark.parametrize("overrides", [["eval.at_end=true"], ["eval.every=5"]])
def test_evaluation_on_data_the_evaluator_cannot_score_is_refused_up_front(tmp_path, overrides):
    """The MNIST evaluator reads grey digits only; colour data get the Inception metrics instead."""
    write_prepared(tmp_path / "rgb", count=16, channels=3, resolution=32)
    colour = [f"data.path={tmp_path / 'rgb'}"]
    with pytest.raises(UserError, match="eval.metrics=mnist: the MNIST evaluator scores grey digits"):
        load_config("mnist-dcgan-plain", overrides=[*colour, *overrides, "eval.metrics=mnist"])
    assert load_config("mnist-dcgan-plain", overrides=[*colour, *overrides]).eval.metrics == "auto"


def _prepared(out, kind: str):
    import numpy as np

    from ganscale.data.prepared import PreparedWriter
    from ganscale.files import atomic_path

    with atomic_path(out, directory=True) as tmp:
        writer = PreparedWriter(tmp, channels=3, resolution=32, labelled=False)
        writer.add(np.zeros((4, 3, 32, 32), dtype=np.uint8))
        writer.finish(source={"kind": kind})
    return out


@pytest.mark.parametrize("overrides", [["eval.at_end=true"], ["eval.every=5"]])
def test_stacked_mnist_is_scored_by_its_modes(tmp_path, overrides):
    """On a dataset prepared as stacked-mnist, `auto` picks the mode coverage; elsewhere it is refused."""
    from ganscale.eval.choice import selected

    stacked = [f"data.path={_prepared(tmp_path / 'stacked', 'stacked-mnist')}"]
    cfg = load_config("stacked-mnist-r3gan", overrides=[*stacked, *overrides])
    assert cfg.eval.num == 26000 and selected(cfg) == ("stacked-mnist",)
    folder = [f"data.path={_prepared(tmp_path / 'faces', 'folder')}", "eval.metrics=stacked-mnist"]
    with pytest.raises(UserError, match="eval.metrics=stacked-mnist: scores a dataset made by"):
        load_config("mnist-dcgan-plain", overrides=[*folder, *overrides])


def test_a_prepared_mnist_subset_is_scored_by_the_mnist_evaluator(tmp_path):
    """`ganscale prepare mnist --max-images N` is still MNIST: auto keeps FID-MNIST for it."""
    import numpy as np

    from ganscale.data.prepared import PreparedWriter
    from ganscale.eval.choice import selected
    from ganscale.files import atomic_path

    with atomic_path(tmp_path / "subset", directory=True) as tmp:
        writer = PreparedWriter(tmp, channels=1, resolution=28, labelled=False)
        writer.add(np.zeros((4, 1, 28, 28), dtype=np.uint8))
        writer.finish(source={"kind": "named", "location": "mnist"})
    cfg = load_config("mnist-dcgan-plain", overrides=[f"data.path={tmp_path / 'subset'}", "eval.at_end=true"])
    assert selected(cfg) == ("mnist",)
    other = load_config("mnist-dcgan-plain", overrides=[f"data.path={_prepared(tmp_path / 'x', 'folder')}"])
    assert selected(other) == ("fid", "kid")
