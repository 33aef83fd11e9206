"""Every file ganscale writes goes through here: written whole under a temporary name, then renamed.

A reader (a resumed run, a user's script, W&B) never sees half a file, an interrupted write leaves no
temporary behind, and an OS error (a read-only folder, a full disk) becomes one UserError line naming
the path and the reason instead of a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ganscale.errors import UserError


def cannot_write(path: Path, err: OSError) -> UserError:
    reason = err.strerror or str(err)
    return UserError(f"cannot write {path}: {reason}")


def ensure_dir(path: str | Path) -> Path:
    """mkdir -p, with a failure reported as one line."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise cannot_write(path, err) from None
    return path


def _temporary_name(path: Path, keep_suffix: bool) -> Path:
    # Same folder (so the rename is atomic), hidden, and a file keeps its suffix for writers that read it.
    suffix = path.suffix if keep_suffix else ""
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}{suffix}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


@contextmanager
def atomic_path(path: str | Path, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on any error it is removed.

    With `directory=True` the temporary is an empty directory to fill (a checkpoint); an existing
    directory at `path` is replaced only once the new one is complete.
    """
    path = Path(path)
    ensure_dir(path.parent)
    tmp = _temporary_name(path, keep_suffix=not directory)
    try:
        # Made before the writer runs, so an unwritable folder fails here as an OSError (one line) and
        # not inside a library that raises its own error type about a path the user never named.
        tmp.mkdir() if directory else tmp.touch()
        yield tmp
        files = [f for f in tmp.iterdir() if f.is_file()] if directory else [tmp]
        for file in files:
            _fsync(file)
        if directory and path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except OSError as err:
        _remove(tmp)
        raise cannot_write(path, err) from None
    except BaseException:
        _remove(tmp)
        raise


def write_with(path: str | Path, writer: Callable[[Path], object]) -> Path:
    """Atomically write `path` by calling `writer(temporary_path)`; returns `path`."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    return write_with(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: str | Path, text: str) -> Path:
    return write_with(path, lambda tmp: tmp.write_text(text))


def write_json(path: str | Path, value) -> Path:
    return write_text(path, json.dumps(value, indent=2) + "\n")


def append_line(path: str | Path, line: str) -> None:
    """Append one line (metrics.jsonl): a log grows, so it cannot be replaced whole, but still fails
    with one line. A single write() of a short line is not split by other writers on POSIX."""
    path = Path(path)
    try:
        with open(path, "a") as handle:
            handle.write(line.rstrip("\n") + "\n")
    except OSError as err:
        raise cannot_write(path, err) from None


def clear_stale_temporaries(folder: str | Path) -> None:
    """Remove what a killed writer left in `folder` (a SIGKILL skips every cleanup)."""
    for leftover in Path(folder).glob(".*.tmp-*"):
        _remove(leftover)
