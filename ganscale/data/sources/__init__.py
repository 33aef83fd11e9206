"""Where `ganscale prepare` reads from, picked from the SOURCE string:

    DIR                a folder of images (or a folder written by datasets' save_to_disk)
    FILE.zip           a zip of images
    FILE.parquet       parquet rows (Hugging Face, the `hf` extra)
    hf:NAME[:SPLIT]    a Hugging Face dataset from the Hub, or a saved folder / parquet path
    NAME[:SPLIT]       a dataset torchvision knows (named.NAMED): mnist, cifar10, celeba, ...
    stacked-mnist      three MNIST digits per image, one per colour channel

`resolve` only looks at the string and the file system (cheap: the no-op check of an up-to-date output
needs nothing more); `open_source` opens the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ganscale.data.sources.base import Item, Skipped, Source
from ganscale.data.sources.named import NAMED, split_name
from ganscale.data.sources.stacked_mnist import RESOLUTIONS as STACKED_RESOLUTIONS
from ganscale.errors import UserError

__all__ = ["Item", "Skipped", "Source", "Spec", "open_source", "resolve"]


@dataclass(frozen=True)
class Spec:
    """A source as dataset.json records it: kind, location, and the options that change what is read."""

    kind: str
    location: str
    options: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"kind": self.kind, "location": self.location, "options": dict(self.options)}


def _absolute(path: str | None) -> str | None:
    return str(Path(path).resolve()) if path else None


def _hf_spec(text: str, image_column: str, label_column: str | None, labels: str) -> Spec:
    location, split = text, None
    head, sep, tail = text.rpartition(":")
    if sep and head and "/" not in tail:
        location, split = head, tail
    if Path(location).exists():
        location = _absolute(location)
    return Spec("huggingface", location, {"split": split, "image_column": image_column,
                                          "label_column": label_column, "labels": labels})


def _path_kind(path: Path) -> str:
    from ganscale.data.sources.huggingface import is_saved_dataset

    if path.is_dir():
        parquet_only = any(path.glob("*.parquet")) and not any(p.is_dir() for p in path.iterdir())
        return "huggingface" if is_saved_dataset(path) or parquet_only else "folder"
    kinds = {".zip": "zip", ".parquet": "huggingface"}
    if path.suffix.lower() not in kinds:
        raise UserError(f"{path}: not a folder, a .zip or a .parquet file")
    return kinds[path.suffix.lower()]


def _missing(text: str) -> UserError:
    if "/" not in text and "." not in text:
        return UserError(f"{text}: unknown dataset name (names: {', '.join(NAMED)}, stacked-mnist; "
                         "or a folder, a .zip, hf:NAME)")
    return UserError(f"{text}: no such file or folder")


def resolve(source: str, *, labels: str = "auto", root: str | None = None, image_column: str = "image",
            label_column: str | None = None, seed: int = 0, count: int | None = None,
            resolution: int | None = None) -> Spec:
    """The Spec of SOURCE, with each option checked against the kind of source it applies to."""
    if count is not None and source != "stacked-mnist":
        raise UserError(f"--count {count}: only stacked-mnist takes a count (use --max-images)")
    if source == "stacked-mnist":
        if resolution not in (None, *STACKED_RESOLUTIONS):
            raise UserError(f"--resolution {resolution}: stacked-mnist is made at 28 or 32 pixels")
        return Spec("stacked-mnist", "stacked-mnist",
                    {"count": count, "seed": seed, "root": _absolute(root), "labels": labels})
    if root is not None and source.partition(":")[0] not in NAMED:
        raise UserError(f"--root {root}: only dataset names (mnist, cifar10, ...) and stacked-mnist take "
                        "a root; give the folder itself as SOURCE")
    if source.startswith("hf:"):
        return _hf_spec(source[3:], image_column, label_column, labels)
    if source.partition(":")[0] in NAMED:
        name, split = split_name(source)
        return Spec("named", name, {"split": split, "root": _absolute(root), "labels": labels})
    path = Path(source)
    if not path.exists():
        raise _missing(source)
    kind = _path_kind(path)
    if kind == "huggingface":
        return _hf_spec(str(path), image_column, label_column, labels)
    return Spec(kind, _absolute(str(path)), {"labels": labels})


def open_source(spec: Spec) -> Source:
    opts = spec.options
    if spec.kind == "folder":
        from ganscale.data.sources.folder import open_folder

        return open_folder(Path(spec.location), opts["labels"])
    if spec.kind == "zip":
        from ganscale.data.sources.archive import open_zip

        return open_zip(Path(spec.location), opts["labels"])
    if spec.kind == "named":
        from ganscale.data.sources.named import open_named

        return open_named(f"{spec.location}:{opts['split']}", opts["root"], opts["labels"])
    if spec.kind == "stacked-mnist":
        from ganscale.data.sources.stacked_mnist import open_stacked_mnist

        return open_stacked_mnist(opts["root"], opts["count"], opts["seed"], opts["labels"])
    from ganscale.data.sources.huggingface import open_huggingface

    return open_huggingface(spec.location, opts["split"], opts["image_column"], opts["label_column"],
                            opts["labels"])
