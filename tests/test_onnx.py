"""ONNX export: for every built-in architecture the same noise gives the same images from onnxruntime
as from PyTorch, at any batch size; the CLI picks the format from the suffix; failures are one line.

Tolerance: |PyTorch - onnxruntime| <= 1e-5 on G's float output in [-1, 1]. Both run float32 on the
CPU, but their kernels sum in different orders, which moves the last bits (measured: about 1e-7).
1e-5 is a thousandth of one uint8 grey level (2/255), so the uint8 images may differ only where a
value sits on a rounding boundary, and then by one level; that is checked too.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

import ganscale
from ganscale.config import Config
from ganscale.errors import ExportError
from ganscale.models import ARCHS, build_models
from ganscale.models.registry import SUPPORT
from ganscale.onnx_export import export_onnx
from ganscale.sampling import draw_noise, to_uint8
from tests.helpers import assert_ok, run_cli

onnx = pytest.importorskip("onnx")  # the extra ganscale[onnx]; the dev extra installs it
onnxruntime = pytest.importorskip("onnxruntime")
TOLERANCE = 1e-5


def tiny_generator(arch: str):
    """G of `arch` at width 8, with BatchNorm statistics that are not the identity."""
    cfg = Config()
    support = SUPPORT[arch]
    cfg.model.arch, cfg.model.g_width, cfg.model.d_width = arch, 8, 8
    cfg.model.image_size = (support.resolutions or (28,))[0]
    cfg.model.num_classes = 10 if support.conditional else 0
    torch.manual_seed(0)
    generator, _ = build_models(cfg.model)
    with torch.no_grad():  # a train-mode pass moves the running statistics away from (0, 1)
        z, labels = draw_noise(cfg.model, 16, seed=1)
        generator.train()(z * 2 + 0.5, labels)
    return generator.eval(), cfg


@pytest.mark.parametrize("arch", ARCHS)
def test_onnxruntime_draws_what_pytorch_draws(arch, tmp_path):
    generator, cfg = tiny_generator(arch)
    out = tmp_path / f"{arch}.onnx"
    assert export_onnx(generator, cfg.model, cfg.to_dict(), out) <= TOLERANCE
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    inputs = [i.name for i in session.get_inputs()]
    assert inputs == (["z", "labels"] if cfg.model.num_classes else ["z"])
    for batch in (1, 5):
        z, labels = draw_noise(cfg.model, batch, seed=batch)
        feeds = {"z": z.numpy()} | ({"labels": labels.numpy()} if labels is not None else {})
        got = torch.from_numpy(session.run(["images"], feeds)[0])
        with torch.no_grad():
            want = generator(z, labels)
        assert got.shape == want.shape == (batch, 1, cfg.model.image_size, cfg.model.image_size)
        assert (got - want).abs().max().item() <= TOLERANCE
        levels = (to_uint8(got).int() - to_uint8(want).int()).abs()
        assert levels.max().item() <= 1 and levels.float().mean().item() < 1e-3


def test_the_file_says_what_it_is(tmp_path):
    generator, cfg = tiny_generator("cgan")
    export_onnx(generator, cfg.model, cfg.to_dict(), tmp_path / "g.onnx")
    proto = onnx.load(str(tmp_path / "g.onnx"))
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["format"] == "ganscale-generator-v1" and json.loads(props["config"]) == cfg.to_dict()
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
            for i in proto.graph.input}
    assert dims == {"z": ["batch", 100], "labels": ["batch"]}
    assert proto.graph.input[1].type.tensor_type.elem_type == onnx.TensorProto.INT64


FFT_GAN = """
import torch
from torch import nn


class G(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(100, 784)

    def forward(self, z, labels=None):
        return torch.fft.fft(self.fc(z)).real.tanh().view(-1, 1, 28, 28)


def build(cfg):
    return G(), nn.Linear(1, 1)
"""


def test_an_op_onnx_lacks_is_named(tmp_path, monkeypatch):
    (tmp_path / "fft_gan.py").write_text(FFT_GAN)
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = ganscale.load_config("mnist-mlp", overrides=["model.arch=fft_gan:build"])
    generator, _ = build_models(cfg.model)
    with pytest.raises(ExportError) as err:
        export_onnx(generator.eval(), cfg.model, cfg.to_dict(), tmp_path / "g.onnx")
    assert str(err.value) == ("model.arch=fft_gan:build: cannot be exported to ONNX: the op aten::fft_fft "
                              "has no ONNX translation (opset 17)")
    assert list(tmp_path.glob("*.onnx")) == [] and list(tmp_path.glob(".*")) == []
    monkeypatch.delitem(sys.modules, "fft_gan", raising=False)


@pytest.mark.slow
def test_export_cli_writes_onnx_by_suffix_or_format(tiny_cgan_run, tmp_path, cli_env):
    result = run_cli(["export", "--checkpoint", str(tiny_cgan_run), "--out", str(tmp_path / "G.onnx")],
                     cli_env)
    assert_ok(result)
    assert "exported G_ema to" in result.stdout and "onnxruntime matches PyTorch within" in result.stdout
    session = onnxruntime.InferenceSession(str(tmp_path / "G.onnx"), providers=["CPUExecutionProvider"])
    g = ganscale.load_generator(tiny_cgan_run, device="cpu")
    z, labels = draw_noise(g.config.model, 7, seed=4)
    got = to_uint8(torch.from_numpy(session.run(None, {"z": z.numpy(), "labels": labels.numpy()})[0]))
    assert (got.int() - g.generate(7, seed=4).int()).abs().max().item() <= 1
    for args, message in ((["--format", "onnx", "--out", str(tmp_path / "G.safetensors")],
                           "--format onnx writes a .onnx file; use a name ending in .onnx"),
                          (["--out", str(tmp_path / "G.pt")], "the export is a .safetensors or .onnx file")):
        result = run_cli(["export", "--checkpoint", str(tiny_cgan_run), *args], cli_env)
        assert result.returncode == 2 and message in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.slow
def test_unexportable_user_arch_and_missing_extra_are_one_line(tmp_path, cli_env):
    from ganscale.checkpoint.hub_folder import write_model_files

    (tmp_path / "fft_gan.py").write_text(FFT_GAN)
    sys.path.insert(0, str(tmp_path))
    try:
        cfg = ganscale.load_config("mnist-mlp", overrides=["model.arch=fft_gan:build"])
        generator, _ = build_models(cfg.model)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("fft_gan", None)
    (tmp_path / "folder").mkdir()
    write_model_files(cfg.to_dict(), generator.state_dict(), tmp_path / "folder")
    env = {**cli_env, "PYTHONPATH": f"{tmp_path}:{cli_env.get('PYTHONPATH', '')}"}
    export = ["export", "--checkpoint", str(tmp_path / "folder"), "--out", str(tmp_path / "g.onnx"),
              "--trust-arch"]
    probe = ("import sys\nfrom ganscale.cli import main\nprint(main(ARGS))\n"
             "sys.modules['onnxruntime'] = None  # as if the extra were not installed\nprint(main(ARGS))\n")
    result = subprocess.run([sys.executable, "-c", probe.replace("ARGS", repr(export))], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["2", "2"], result.stderr
    unexportable, missing = result.stderr.strip().splitlines()
    assert unexportable == ("ganscale export: error: model.arch=fft_gan:build: cannot be exported to ONNX: "
                            "the op aten::fft_fft has no ONNX translation (opset 17)")
    assert missing == ("ganscale export: error: ONNX export needs onnx and onnxruntime (onnxruntime is "
                       "missing): pip install 'ganscale[onnx]'")
    assert not (tmp_path / "g.onnx").exists()
