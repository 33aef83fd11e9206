"""Labels for image collections (folders and zips): class sub-folders, or StyleGAN's dataset.json.

StyleGAN's dataset_tool keeps labels beside the images as `{"labels": [["00000/img00000000.png", 6],
...]}` (or `"labels": null`), names relative to the collection's root with `/` separators. Only
integer class ids are taken; StyleGAN's vector labels have no place in a class-conditional model.
"""

from __future__ import annotations

import json

from ganscale.errors import UserError

LABEL_MODES = ("auto", "folders", "none")
META_FILE = "dataset.json"


def assign_labels(names: list[str], mode: str, where: str,
                  meta_text: str | None) -> tuple[list[int] | None, list[str]]:
    """(one label per name, or None for an unlabelled collection; the class names)."""
    if mode == "none":
        return None, []
    if mode == "folders":
        return folder_labels(names, where)
    return (stylegan_labels(names, where, meta_text), []) if meta_text is not None else (None, [])


def folder_labels(names: list[str], where: str) -> tuple[list[int], list[str]]:
    """Class = first-level sub-folder, ids in sorted name order (as torchvision's ImageFolder)."""
    loose = [name for name in names if "/" not in name]
    if loose:
        raise UserError(f"{where}: --labels folders needs every image in a class sub-folder; "
                        f"{loose[0]} is not (and {len(loose) - 1} more)")
    classes = sorted({name.split("/", 1)[0] for name in names})
    index = {name: i for i, name in enumerate(classes)}
    return [index[name.split("/", 1)[0]] for name in names], classes


def stylegan_labels(names: list[str], where: str, meta_text: str) -> list[int] | None:
    try:
        table = json.loads(meta_text).get("labels")
        mapping = {str(entry[0]): entry[1] for entry in table} if table is not None else None
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as err:
        raise UserError(f"{where}/{META_FILE}: not StyleGAN's {{\"labels\": [[name, class], ...]}} "
                        f"layout ({err}); fix it, or pass --labels none") from None
    if mapping is None:
        return None
    labels = []
    for name in names:
        label = mapping.get(name)
        if isinstance(label, bool) or not isinstance(label, int) or label < 0:
            found = "no label" if label is None else f"label {label!r}"
            raise UserError(f"{where}/{META_FILE}: {name} has {found}; each image needs a class id >= 0 "
                            "(or pass --labels none)")
        labels.append(label)
    return labels
