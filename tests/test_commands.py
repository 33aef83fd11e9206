"""One way to add a command: every subcommand is a module in ganscale/commands/ with the same parts,
and `section.key=value` overrides work wherever they stand on the command line."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from ganscale import commands
from ganscale.cli import build_parser
from ganscale.commands.generator_args import TRUST_ARCH_HELP
from tests.helpers import assert_ok, run_cli

COMMANDS_DIR = Path(commands.__file__).parent
LOADS_A_GENERATOR = ("sample", "export", "evaluate", "interpolate", "push")


def subparsers() -> dict:
    action = next(a for a in build_parser()._actions if a.dest == "command")
    return action.choices


def test_every_command_is_a_module_with_name_add_parser_and_run():
    assert commands.MODULES == ("train", "sample", "export", "evaluate", "interpolate", "animate", "bench",
                                "submit", "prepare", "push")
    for name in commands.MODULES:
        module = importlib.import_module(f"ganscale.commands.{name}")
        assert name == module.NAME and callable(module.add_parser) and callable(module.run)
    assert list(subparsers()) == list(commands.MODULES)


def test_no_command_imports_the_cli():
    for path in COMMANDS_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "ganscale.cli", path
            if isinstance(node, ast.Import):
                assert all(alias.name != "ganscale.cli" for alias in node.names), path


def test_help_imports_no_heavy_library():
    probe = "\n".join([
        "import contextlib, io, sys",
        "from ganscale.cli import main",
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):",
        "    main(['--help'])",
        "print(sorted(m for m in ('torch', 'numpy', 'accelerate') if m in sys.modules))"])
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_generator_loading_commands_take_trust_arch():
    parsers = subparsers()
    for name in LOADS_A_GENERATOR:
        (action,) = [a for a in parsers[name]._actions if "--trust-arch" in a.option_strings]
        assert action.help == TRUST_ARCH_HELP and action.default is False
    args = build_parser().parse_args(["sample", "--checkpoint", "c", "--out", "x.png", "--trust-arch"])
    assert args.trust_arch is True


def test_overrides_between_flags_are_collected_in_order():
    args = build_parser().parse_args(["train", "--run-dir", "r", "train.max_kimg=5", "--preset", "mnist-mlp",
                                      "train.batch_size=8", "--dry-run", "loss.kind=hinge"])
    assert args.overrides == ["train.max_kimg=5", "train.batch_size=8", "loss.kind=hinge"]
    assert (args.run_dir, args.preset, args.dry_run) == ("r", "mnist-mlp", True)


@pytest.mark.slow
def test_overrides_anywhere_through_the_real_cli(cli_env):
    result = run_cli(["train", "--run-dir", "r", "train.max_kimg=5", "--preset", "mnist-mlp",
                      "train.batch_size=8", "--dry-run"], cli_env)
    assert_ok(result)
    assert "arch: mlp" in result.stdout and "batch_size: 8" in result.stdout
    assert "max_kimg: 5.0" in result.stdout
    submit = run_cli(["submit", "--dry-run", "--", "train.max_kimg=5", "--preset", "mnist-mlp",
                      "train.batch_size=8"], cli_env)
    assert_ok(submit)
    assert "TRAIN_ARGS=(--preset mnist-mlp train.max_kimg=5 train.batch_size=8)" in submit.stdout


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["train", "--preset", "mnist-mlp", "train.max_kimg=5", "--dry-run", "batch_size"],
     "ganscale train: error: bad override 'batch_size': expected section.key=value"),
    (["train", "train.max_kimg=5", "--dry-run", "--bogus"],
     "ganscale: error: unrecognized arguments: --bogus"),
    (["submit", "--dry-run", "--", "train.max_kimg=5", "--preset", "mnist-mlp", "batch_size"],
     "ganscale submit: error: bad override 'batch_size': expected section.key=value"),
])
def test_a_token_that_is_neither_flag_nor_override_is_one_line(cli_env, args, message):
    result = run_cli(args, cli_env)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(message), result.stderr
