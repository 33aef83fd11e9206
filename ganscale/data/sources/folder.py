"""A folder of images, searched recursively (png, jpg, jpeg, webp, bmp), in sorted path order."""

from __future__ import annotations

from pathlib import Path

from ganscale.data.sources.base import IMAGE_SUFFIXES, Source, decode, is_image_name
from ganscale.data.sources.labelling import META_FILE, assign_labels
from ganscale.errors import UserError


def image_files(folder: Path) -> list[str]:
    """Relative `/` paths of the images; hidden files and folders (a `.DS_Store`, a `.git`) are not data."""
    names = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if is_image_name(path.name) and path.is_file():
            names.append(relative.as_posix())
    return sorted(names)


def open_folder(folder: Path, labels: str) -> Source:
    if not any(folder.iterdir()):
        raise UserError(f"{folder}: the folder is empty")
    names = image_files(folder)
    if not names:
        raise UserError(f"{folder}: no images ({', '.join(s[1:] for s in IMAGE_SUFFIXES)}) in the folder "
                        "or its sub-folders")
    meta = folder / META_FILE
    label_list, class_names = assign_labels(names, labels, str(folder),
                                            meta.read_text() if meta.is_file() else None)

    def items():
        for i, name in enumerate(names):
            label = label_list[i] if label_list is not None else None
            yield decode(name, folder / name, label)

    return Source(kind="folder", location=str(folder), labelled=label_list is not None, size=len(names),
                  label_names=class_names, items=items, notes={"files": len(names)})
