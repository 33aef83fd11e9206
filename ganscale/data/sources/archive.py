"""A .zip of images (as StyleGAN's dataset_tool writes them), its dataset.json labels honoured."""

from __future__ import annotations

import zipfile
from pathlib import Path

from ganscale.data.sources.base import Source, decode, is_image_name, one_line
from ganscale.data.sources.labelling import META_FILE, assign_labels
from ganscale.errors import UserError


def _listing(path: Path) -> tuple[list[str], str | None]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
            names = sorted(n for n in members if is_image_name(n) and not n.endswith("/")
                           and not any(part.startswith(".") for part in n.split("/")))
            meta = archive.read(META_FILE).decode() if META_FILE in members else None
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, EOFError) as err:
        raise UserError(f"{path}: not a readable zip archive ({one_line(err)})") from None
    return names, meta


def open_zip(path: Path, labels: str) -> Source:
    names, meta = _listing(path)
    if not names:
        raise UserError(f"{path}: the archive holds no images (png, jpg, jpeg, webp, bmp)")
    label_list, class_names = assign_labels(names, labels, str(path), meta)

    def items():
        with zipfile.ZipFile(path) as archive:
            for i, name in enumerate(names):
                label = label_list[i] if label_list is not None else None
                yield decode(name, lambda name=name: archive.open(name), label)

    return Source(kind="zip", location=str(path), labelled=label_list is not None, size=len(names),
                  label_names=class_names, items=items, notes={"files": len(names)})
