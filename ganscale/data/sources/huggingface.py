"""Hugging Face datasets (the optional extra `ganscale[hf]`): `hf:NAME[:split]` from the Hub, a folder
written by `save_to_disk`, or parquet files. The image column may hold images (decoded here, so one
broken image is skipped rather than ending the run) or uint8 arrays; labels are class ids, or strings
mapped to ids in sorted order.
"""

from __future__ import annotations

import io
from pathlib import Path

from ganscale.data.sources.base import Item, Source, decode, one_line
from ganscale.errors import UserError

EXTRA = "pip install 'ganscale[hf]'"
SAVED_MARKERS = ("dataset_info.json", "dataset_dict.json", "state.json")


def _library():
    try:
        import datasets
    except ImportError:
        raise UserError(f"Hugging Face sources need the datasets library: {EXTRA}") from None
    return datasets


def is_saved_dataset(folder: Path) -> bool:
    return folder.is_dir() and any((folder / marker).is_file() for marker in SAVED_MARKERS)


def _load(location: str, split: str | None):
    datasets = _library()
    path = Path(location)
    try:
        if is_saved_dataset(path):
            loaded = datasets.load_from_disk(str(path))
        elif path.suffix == ".parquet" or (path.is_dir() and any(path.glob("*.parquet"))):
            files = [str(path)] if path.is_file() else sorted(str(p) for p in path.glob("*.parquet"))
            loaded = datasets.load_dataset("parquet", data_files={"train": files})
        else:
            loaded = datasets.load_dataset(location)
    except Exception as err:  # the library raises many types (offline, missing, bad files): one line
        raise UserError(f"hf:{location}: could not load ({one_line(err)})") from None
    return _pick_split(loaded, location, split)


def _pick_split(loaded, location: str, split: str | None):
    if not hasattr(loaded, "keys"):  # a single Dataset
        return loaded
    names = list(loaded.keys())
    chosen = split or ("train" if "train" in names else names[0] if len(names) == 1 else None)
    if chosen not in names:
        raise UserError(f"hf:{location}: {'no split ' + repr(split) if split else 'several splits'}; "
                        f"choose one as hf:{location}:SPLIT (splits: {', '.join(names)})")
    return loaded[chosen]


def _column(dataset, name: str, location: str, flag: str) -> None:
    if name not in dataset.column_names:
        raise UserError(f"hf:{location}: no column {name!r} for {flag} (columns: "
                        f"{', '.join(dataset.column_names)})")


def _label_table(dataset, column: str) -> tuple[dict | None, list[str]]:
    """(string -> id for string labels, else None; the class names)."""
    feature = dataset.features[column]
    if hasattr(feature, "names"):  # ClassLabel
        return None, list(feature.names)
    if getattr(feature, "dtype", "") in ("string", "large_string"):
        names = sorted(dataset.unique(column))
        return {name: i for i, name in enumerate(names)}, names
    return None, []


def _image(value, name: str) -> Item | object:
    if isinstance(value, dict):  # an undecoded Image feature: {"bytes": ..., "path": ...}
        data, path = value.get("bytes"), value.get("path")
        return decode(name, (lambda: io.BytesIO(data)) if data else Path(path), None)
    import numpy as np

    return Item(value if hasattr(value, "mode") else np.asarray(value, dtype=np.uint8), None, name)


def open_huggingface(location: str, split: str | None, image_column: str, label_column: str | None,
                     labels: str) -> Source:
    datasets = _library()
    dataset = _load(location, split)
    _column(dataset, image_column, location, "--image-column")
    if label_column is not None:
        _column(dataset, label_column, location, "--label-column")
    column = label_column or ("label" if "label" in dataset.column_names else None)
    if labels == "none":
        column = None
    elif labels == "folders":
        raise UserError("--labels folders: a Hugging Face dataset has columns, not folders; use "
                        "--label-column NAME")
    if isinstance(dataset.features[image_column], datasets.Image):
        dataset = dataset.cast_column(image_column, datasets.Image(decode=False))
    mapping, names = _label_table(dataset, column) if column else (None, [])
    columns = dataset.select_columns([image_column] + ([column] if column else []))

    def items():
        for i, row in enumerate(columns):
            item = _image(row[image_column], f"row {i}")
            if column and isinstance(item, Item):
                value = row[column]
                item.label = mapping[value] if mapping is not None else int(value)
            yield item

    return Source(kind="huggingface", location=location, labelled=column is not None, size=len(dataset),
                  label_names=names, num_classes=len(names), items=items,
                  notes={"split": split, "rows": len(dataset), "label_column": column})
