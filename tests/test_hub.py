"""`ganscale push` and `hf://` loading, without the network: `push --dry-run --out DIR` writes the
repository, DIR loads back bit-exactly (locally and through huggingface_hub's own cache code), its
model card parses as the Hub parses cards, and every bad input is one line with exit 2."""

from __future__ import annotations

import http.server
import json
import sys
import threading

import numpy as np
import pytest
import torch
import yaml
from huggingface_hub import ModelCard, metadata_load
from safetensors.torch import load_file

import ganscale
from ganscale.checkpoint import load_generator_weights
from ganscale.checkpoint.hub_folder import write_model_files
from ganscale.errors import NotAGeneratorError
from ganscale.eval.mnist_classifier import EVALUATOR_SHA256
from tests.helpers import assert_ok, latest_checkpoint_dir, run_cli
from tests.hub_cache import cache_repo, offline_env

pytestmark = pytest.mark.slow
REPO = "your-name/tiny-cgan"


@pytest.fixture(scope="module")
def pushed(tiny_cgan_run, tmp_path_factory, mnist_root):
    from tests.helpers import cli_env

    out = tmp_path_factory.mktemp("push") / "repo"
    result = run_cli(["push", "--checkpoint", str(tiny_cgan_run), "--repo", REPO, "--dry-run", "--out",
                      str(out), "--license", "mit"], cli_env(mnist_root, out.parent))
    assert_ok(result)
    assert f"wrote the repository for {REPO} to {out} (nothing uploaded)" in result.stdout
    return out


def one_error_line(result, command: str) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ganscale {command}: error: "), result.stderr
    return lines[0]


def test_dry_run_writes_exactly_the_repository(pushed, tiny_cgan_run):
    assert sorted(p.name for p in pushed.iterdir()) == ["README.md", "config.json", "model.safetensors",
                                                        "samples.png"]
    ema = load_file(latest_checkpoint_dir(tiny_cgan_run) / "generator_ema.safetensors")
    weights = load_file(pushed / "model.safetensors")
    assert weights.keys() == ema.keys() and all(torch.equal(weights[k], ema[k]) for k in ema)
    config = json.loads((pushed / "config.json").read_text())
    assert config["format"] == "ganscale-generator-v1" and config["library_name"] == "ganscale"
    assert (config["arch"], config["num_classes"], config["image_size"]) == ("cgan", 10, 28)
    assert config["config"] == load_generator_weights(tiny_cgan_run)[0]


def test_the_folder_loads_back_bit_exactly(pushed, tiny_cgan_run, tmp_path, cli_env):
    ours = ganscale.load_generator(pushed, device="cpu").generate(30, seed=5)
    assert torch.equal(ours, ganscale.load_generator(tiny_cgan_run, device="cpu").generate(30, seed=5))
    for source, name in ((pushed, "hub.npz"), (tiny_cgan_run, "run.npz")):
        assert_ok(run_cli(["sample", "--checkpoint", str(source), "--num", "30", "--seed", "5", "--out",
                           str(tmp_path / name)], cli_env))
    assert (tmp_path / "hub.npz").read_bytes() == (tmp_path / "run.npz").read_bytes()


def test_card_metadata_is_what_the_hub_reads(pushed, tiny_cgan_run):
    meta = metadata_load(pushed / "README.md")
    assert meta["library_name"] == "ganscale" and meta["license"] == "mit"
    assert meta["tags"] == ["gan", "class-conditional", "cgan"] and meta["datasets"] == ["ylecun/mnist"]
    card = ModelCard.load(pushed / "README.md")
    last_eval = [json.loads(line) for line in (tiny_cgan_run / "metrics.jsonl").read_text().splitlines()
                 if "eval/fid" in line][-1]
    (result,) = card.data.eval_results[:1]
    assert (result.metric_type, result.metric_value) == ("fid", round(last_eval["eval/fid"], 4))
    assert {r.metric_type for r in card.data.eval_results} >= {"fid", "kid", "precision", "recall"}
    assert f"sha256 {EVALUATOR_SHA256[:12]}" in card.text and "on 200 samples" in card.text
    assert f"ganscale {ganscale.__version__}" in card.text and "![samples from this generator](samples.png)" \
        in card.text
    config_yaml = card.text.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert yaml.safe_load(config_yaml) == yaml.safe_load((tiny_cgan_run / "config.yaml").read_text())
    assert f'ganscale.load_generator("hf://{REPO}")' in card.text


def test_hf_ids_load_through_the_hub_cache(pushed, tiny_cgan_run, tmp_path, cli_env):
    cache_repo(tmp_path / "hf", REPO, pushed)
    cache_repo(tmp_path / "hf", REPO, pushed, revision="v1")
    env = offline_env(cli_env, tmp_path / "hf")
    assert_ok(run_cli(["sample", "--checkpoint", f"hf://{REPO}@v1", "--num", "12", "--seed", "2", "--out",
                       str(tmp_path / "v1.npz")], env))
    local = ganscale.load_generator(tiny_cgan_run, device="cpu")
    assert np.array_equal(np.load(tmp_path / "v1.npz")["images"], local.generate(12, seed=2)[:, 0].numpy())
    probe = (f"import ganscale; g = ganscale.load_generator('hf://{REPO}', device='cpu');"
             "print(g.num_classes, g.generate(4, seed=0).sum().item())")
    result = subprocess_python(probe, env)
    assert result.stdout.split() == ["10", str(local.generate(4, seed=0).sum().item())], result.stderr


def subprocess_python(code: str, env: dict):
    import subprocess

    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("source", ["hf://", "hf://name-only", "hf://a/b/c", "hf://a/b@", "hf://a/b@x@y",
                                    "hf://-a/b", "hf://a/b c"])
def test_malformed_hub_ids_are_user_errors(source):
    with pytest.raises(ganscale.UserError) as err:
        ganscale.load_generator(source)
    assert str(err.value) == f"{source!r}: not a Hub model id; expected hf://OWNER/NAME or hf://OWNER/NAME@REVISION"


def test_a_malformed_hub_id_is_one_line_from_the_cli(cli_env):
    result = run_cli(["sample", "--checkpoint", "hf://a/b/c", "--out", "x.png"], cli_env)
    line = one_error_line(result, "sample")
    assert line.endswith("'hf://a/b/c': not a Hub model id; expected hf://OWNER/NAME or hf://OWNER/NAME@REVISION")


def test_missing_repo_offline_and_online(tmp_path, cli_env):
    env = offline_env(cli_env, tmp_path / "hf")
    line = one_error_line(run_cli(["sample", "--checkpoint", "hf://nobody/nothing", "--out", "x.png"], env),
                          "sample")
    assert "hf://nobody/nothing: not in the local Hub cache" in line and "HF_HUB_OFFLINE" in line
    with _fake_hub() as endpoint:  # a local server answering as the Hub does for a missing repository
        online = {**env, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": endpoint}
        line = one_error_line(run_cli(["sample", "--checkpoint", "hf://nobody/nothing", "--out", "x.png"],
                                      online), "sample")
    assert "hf://nobody/nothing: no such model repository on the Hub" in line


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the name http.server calls)
        body = b'{"error": "Repository Not Found"}'
        self.send_response(404)
        self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET  # noqa: N815

    def log_message(self, *args):
        pass


class _fake_hub:  # noqa: N801 (used as a context manager)
    def __enter__(self) -> str:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_port}"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_another_librarys_folder_is_refused(tmp_path, cli_env):
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(NotAGeneratorError) as err:
        ganscale.load_generator(folder)
    assert str(err.value) == (f"{folder}/config.json: not a ganscale generator (format None, expected "
                              "'ganscale-generator-v1'); it names model_type='bert', "
                              "architectures=['BertModel']")
    result = run_cli(["sample", "--checkpoint", str(folder), "--out", "x.png"], cli_env)
    line = one_error_line(result, "sample")
    assert "not a ganscale generator" in line
    cache_repo(tmp_path / "hf", "someone/bert", folder)
    (tmp_path / "empty").mkdir()
    cache_repo(tmp_path / "hf", "someone/empty", tmp_path / "empty")
    probe = ("import ganscale\n"
             "for source in ('hf://someone/bert', 'hf://someone/empty'):\n"
             "    try:\n        ganscale.load_generator(source)\n"
             "    except ganscale.UserError as err:\n        print(type(err).__name__, err)\n")
    result = subprocess_python(probe, offline_env(cli_env, tmp_path / "hf"))
    bert, empty = result.stdout.strip().splitlines()
    assert bert.startswith("NotAGeneratorError ") and "model_type='bert'" in bert, result.stderr
    assert empty == ("NotAGeneratorError hf://someone/empty: not a ganscale generator (the repository has no "
                     "config.json and model.safetensors)")


def test_a_folder_naming_user_code_needs_trust_arch(tmp_path, monkeypatch):
    (tmp_path / "tiny_user_gan.py").write_text(
        "from torch import nn\n"
        "class G(nn.Module):\n"
        "    def __init__(self):\n        super().__init__(); self.fc = nn.Linear(100, 784)\n"
        "    def forward(self, z, labels=None):\n        return self.fc(z).tanh().view(-1, 1, 28, 28)\n"
        "def build(cfg):\n    return G(), nn.Linear(1, 1)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = ganscale.load_config("mnist-mlp", overrides=["model.arch=tiny_user_gan:build"])
    from ganscale.models import build_models

    generator, _ = build_models(cfg.model)
    folder = tmp_path / "user"
    folder.mkdir()
    write_model_files(cfg.to_dict(), generator.state_dict(), folder)
    with pytest.raises(ganscale.UserError, match="names a user architecture, model.arch=tiny_user_gan:build"):
        ganscale.load_generator(folder)
    g = ganscale.load_generator(folder, device="cpu", trust_arch=True)
    assert g.generate(2, seed=0).shape == (2, 1, 28, 28)
    monkeypatch.delitem(sys.modules, "tiny_user_gan", raising=False)


@pytest.mark.parametrize(("args", "message"), [
    (["--repo", "no-owner", "--dry-run", "--out", "o"], "--repo 'no-owner': expected OWNER/NAME"),
    (["--repo", "a/b", "--dry-run"], "--dry-run and --out go together"),
    (["--repo", "a/b", "--out", "o"], "--dry-run and --out go together"),
    (["--repo", "a/b", "--license", "MIT License", "--dry-run", "--out", "o"], "--license 'MIT License'"),
    (["--repo", "a/b", "--revision=a b", "--dry-run", "--out", "o"], "--revision 'a b': expected a branch"),
    (["--repo", "a/b"], "HF_HUB_OFFLINE is set: pushing needs the Hub"),
])
def test_bad_push_arguments_are_one_line(args, message, tiny_cgan_run, tmp_path, cli_env):
    env = offline_env(cli_env, tmp_path / "hf")
    result = run_cli(["push", "--checkpoint", str(tiny_cgan_run), *args], env, cwd=tmp_path)
    assert message in one_error_line(result, "push")
    assert not (tmp_path / "o").exists()


def test_push_never_replaces_other_files(tiny_cgan_run, tmp_path, cli_env):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    result = run_cli(["push", "--checkpoint", str(tiny_cgan_run), "--repo", "a/b", "--dry-run", "--out",
                      str(tmp_path / "mine")], cli_env)
    assert "holds other files (notes.txt)" in one_error_line(result, "push")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_missing_hub_extra_is_one_line(tiny_cgan_run, tmp_path, cli_env):
    push = ["push", "--checkpoint", str(tiny_cgan_run), "--repo", "a/b", "--dry-run", "--out",
            str(tmp_path / "o")]
    sample = ["sample", "--checkpoint", "hf://a/b", "--out", "x.png"]
    probe = ("import sys; sys.modules['huggingface_hub'] = None  # as if the extra were not installed\n"
             f"from ganscale.cli import main\nprint(main({push!r}), main({sample!r}))")
    result = subprocess_python(probe, cli_env)
    assert result.stdout.split() == ["2", "2"], result.stderr
    push_line, sample_line = result.stderr.strip().splitlines()
    assert push_line == ("ganscale push: error: the Hugging Face Hub needs huggingface_hub: "
                         "pip install 'ganscale[hub]'")
    assert sample_line.startswith("ganscale sample: error: ") and sample_line.endswith("'ganscale[hub]'")
