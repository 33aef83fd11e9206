"""docs/api.md and the README's Python lines run: python blocks as written, each bash block's
`ganscale ...` line through the real CLI, top to bottom as one script, against the placeholders the
page names (a tiny trained run as runs/quickstart, and hf://your-name/mnist-gan served offline from a
local Hub cache)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ganscale.share import write_folder
from tests.hub_cache import cache_repo, offline_env

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
DOC, README = ROOT / "docs" / "api.md", ROOT / "README.md"
BLOCK = re.compile(r"^```(python|bash)\n(.*?)^```$", re.S | re.M)


def doc_script(text: str) -> str:
    """The page as one Python script: python blocks as written, each bash `ganscale` line as a CLI call."""
    parts = ["import subprocess as _sp, sys as _sys"]
    for kind, body in BLOCK.findall(text):
        if kind == "python":
            parts.append(body)
            continue
        for line in body.splitlines():
            words = shlex.split(line, comments=True)
            assert words[:1] == ["ganscale"], f"docs/api.md: a bash line that is not a ganscale call: {line}"
            parts.append(f"_sp.run([_sys.executable, '-m', 'ganscale', *{words[1:]!r}], check=True)")
    return "\n".join(parts)


def test_every_block_is_collected():
    text = DOC.read_text()
    assert text.count("```python") + text.count("```bash") == len(BLOCK.findall(text)) >= 10


def test_the_examples_run(tiny_cgan_run, tmp_path, cli_env):
    shutil.copytree(tiny_cgan_run, tmp_path / "runs" / "quickstart")
    write_folder(tiny_cgan_run, tmp_path / "hub-folder", "your-name/mnist-gan", license="mit", datasets=None,
                 trust_arch=False)
    cache_repo(tmp_path / "hf", "your-name/mnist-gan", tmp_path / "hub-folder")
    readme = "".join(f"```python\n{body}```\n" for kind, body in BLOCK.findall(README.read_text())
                     if kind == "python")  # the README's three lines first: they save grid.png
    (tmp_path / "api_doc.py").write_text(doc_script(readme + DOC.read_text()))
    env = offline_env(cli_env, tmp_path / "hf")
    result = subprocess.run([sys.executable, "api_doc.py"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    assert (tmp_path / "grid.png").is_file() and (tmp_path / "G.onnx").is_file()
    assert sorted(p.name for p in (tmp_path / "pushed").iterdir()) == ["README.md", "config.json",
                                                                       "model.safetensors", "samples.png"]
    assert "(5, 1, 28, 28)" in result.stdout and "Generator(arch='cgan'" in result.stdout
    wanted = ("loss.kind", "not a Hub model id", "labels: 3 given")
    errors = [line for line in result.stdout.splitlines() if any(w in line for w in wanted)]
    assert len(errors) == 3, result.stdout
