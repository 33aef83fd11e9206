"""Every file a command writes fails cleanly: one stderr line naming the path and the reason, exit 2,
no traceback, and nothing left behind (ganscale/files.py underneath all of them).

The unwritable folder is a real one (mode 0o555). Root ignores permission bits through the
CAP_DAC_OVERRIDE capability, so when the tests run as root (CI does) the command runs without that
capability: it still owns its inputs (and the interpreter's folders), but a 0o555 folder refuses it.
"""

from __future__ import annotations

import ctypes
import os
import stat
from pathlib import Path

import pytest

from ganscale import files
from ganscale.errors import UserError
from tests.helpers import TINY, assert_ok, run_cli

PR_CAPBSET_DROP, CAP_DAC_OVERRIDE = 24, 1  # <linux/prctl.h>, <linux/capability.h>


# ----------------------------------------------------------------------------------- files.py


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def test_write_text_replaces_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    assert files.write_json(target, {"fid": 1.5}) == target
    assert target.read_text() == '{\n  "fid": 1.5\n}\n'
    assert leftovers(tmp_path) == []


def test_an_exception_inside_the_block_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "grid.png"
    target.write_bytes(b"complete")
    with pytest.raises(KeyboardInterrupt), files.atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"complete"
    assert leftovers(tmp_path) == []


def test_an_os_error_becomes_one_user_error_line_naming_the_path(tmp_path):
    target = tmp_path / "samples.npz"

    def writer(tmp: Path) -> None:
        tmp.write_bytes(b"partial")
        open(tmp / "inside-a-file", "wb")  # noqa: SIM115 - a real OSError: tmp is not a folder

    with pytest.raises(UserError) as err:
        files.write_with(target, writer)
    assert str(err.value) == f"cannot write {target}: Not a directory"
    assert list(tmp_path.iterdir()) == []


def test_a_missing_parent_that_cannot_be_made_is_a_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserError, match=rf"cannot write {blocker}/sub: .*"):
        files.write_text(blocker / "sub" / "x.txt", "x")


def test_a_directory_is_replaced_only_once_it_is_complete(tmp_path):
    target = tmp_path / "checkpoint"
    files.ensure_dir(target)
    (target / "old.safetensors").write_bytes(b"old")
    with pytest.raises(RuntimeError), files.atomic_path(target, directory=True) as tmp:
        (tmp / "new.safetensors").write_bytes(b"new")
        raise RuntimeError("killed halfway")
    assert [p.name for p in target.iterdir()] == ["old.safetensors"] and leftovers(tmp_path) == []
    with files.atomic_path(target, directory=True) as tmp:
        (tmp / "new.safetensors").write_bytes(b"new")
    assert [p.name for p in target.iterdir()] == ["new.safetensors"] and leftovers(tmp_path) == []


def test_append_line_and_clearing_stale_temporaries(tmp_path):
    log = tmp_path / "metrics.jsonl"
    files.append_line(log, '{"step": 1}')
    files.append_line(log, '{"step": 2}\n')
    assert log.read_text() == '{"step": 1}\n{"step": 2}\n'
    (tmp_path / ".grid.png.tmp-0123abcd.png").write_bytes(b"killed writer")
    files.clear_stale_temporaries(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]


# ------------------------------------------------------------------------ commands, through the CLI


def _without_dac_override() -> None:
    """Runs in the child before exec: dropped from the bounding set, root keeps no way around 0o555."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE)")


def run_unprivileged(args: list[str], env: dict):
    """The CLI as a user for whom an 0o555 folder is read-only (root included)."""
    import subprocess
    import sys

    extra = {"preexec_fn": _without_dac_override} if os.geteuid() == 0 else {}
    return subprocess.run([sys.executable, "-m", "ganscale", *args], env=env, timeout=300,
                          capture_output=True, text=True, **extra)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_root):
    tmp = tmp_path_factory.mktemp("writes")
    env = {**os.environ, "GANSCALE_DATA": str(mnist_root), "WANDB_MODE": "offline",
           "WANDB_DIR": str(tmp), "OMP_NUM_THREADS": "1"}
    run_dir = tmp / "run"
    assert_ok(run_cli(["train", "--preset", "mnist-mlp", "--run-dir", str(run_dir), *TINY,
                       "train.max_kimg=0.064", "log.sample_every=0.032"], env))
    assert len(list((run_dir / "samples").glob("kimg-*.png"))) >= 2
    return run_dir, env


@pytest.fixture
def read_only_dir(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)  # so that pytest can clean up


def assert_clean_failure(result, out: Path) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert f"cannot write {out}: Permission denied" in lines[0], lines[0]
    assert list(out.parent.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("name, command", [
    ("x.png", ["sample", "--checkpoint", "{run}", "--num", "4"]),
    ("x.npz", ["sample", "--checkpoint", "{run}", "--num", "4"]),
    ("g.safetensors", ["export", "--checkpoint", "{run}"]),
    ("w.png", ["interpolate", "--checkpoint", "{run}", "--steps", "3", "--rows", "1"]),
    ("w.gif", ["interpolate", "--checkpoint", "{run}", "--steps", "3", "--rows", "1"]),
    ("p.gif", ["animate", "{run}"]),
])
def test_an_unwritable_output_folder_is_one_line_and_exit_2(trained, read_only_dir, name, command):
    run_dir, env = trained
    assert stat.S_IMODE(read_only_dir.stat().st_mode) == 0o555
    out = read_only_dir / name
    args = [str(run_dir) if part == "{run}" else part for part in command]
    assert_clean_failure(run_unprivileged([*args, "--out", str(out)], env), out)


@pytest.mark.slow
def test_the_same_commands_write_into_a_writable_folder(trained, tmp_path):
    """The control: with the same capabilities dropped, a writable folder gets the file, and only it."""
    run_dir, env = trained
    out = tmp_path / "writable"
    out.mkdir()
    assert_ok(run_unprivileged(["sample", "--checkpoint", str(run_dir), "--num", "4",
                                "--out", str(out / "x.npz")], env))
    assert_ok(run_unprivileged(["export", "--checkpoint", str(run_dir), "--out", str(out / "g.safetensors")],
                               env))
    assert sorted(p.name for p in out.iterdir()) == ["g.safetensors", "x.npz"]
