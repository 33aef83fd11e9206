"""Typed run configuration: presets, YAML files and `key=value` overrides, validated up front.

Every option lives in exactly one dataclass field (config_sections.py). Limits and allowed values sit
next to the field (in its metadata), so validation, error messages and `--dry-run` all read the same
source.
This module must stay light: it is imported before torch so that bad input fails in milliseconds;
only the checks that ask the architecture (models.check_model) import the models, after the rest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from ganscale.config_sections import (
    DataConfig,
    EvalConfig,
    LogConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
)
from ganscale.errors import UserError

__all__ = ["Config", "DataConfig", "EvalConfig", "LogConfig", "LossConfig", "ModelConfig", "OptimConfig",
           "TrainConfig", "config_from_dict", "load_config", "parse_override", "preset_names"]


class _Loader(yaml.SafeLoader):
    """YAML with only true/false as booleans (as in YAML 1.2).

    YAML 1.1 also reads yes/no/on/off as booleans, which turned `train.mixed_precision=no` into
    False and got it refused; every boolean option here is spelled true/false instead.
    """


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


@dataclass
class Config:
    preset: str = "mnist-dcgan"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def fingerprint(self) -> str:
        """Hash of what determines the trained weights' shapes (checked when resuming).

        Model fields added after checkpoints were first written count only when set, so checkpoints of
        earlier versions (which never had them) stay resumable.
        """
        model = dataclasses.asdict(self.model)
        for name, default in MODEL_FIELDS_ADDED_LATER.items():
            if model[name] == default:
                del model[name]
        text = json.dumps(model, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


MODEL_FIELDS_ADDED_LATER = {"d_mbstd": 0, "latent_codes": 0, "conditioning": "labels", "r3gan_widths": "256",
                           "r3gan_blocks": "2", "r3gan_cardinality": "32", "r3gan_expansion": 2}
SECTIONS = {f.name: f.type for f in dataclasses.fields(Config) if f.name != "preset"}


def preset_names() -> list[str]:
    files = resources.files("ganscale.presets").iterdir()
    return sorted(p.name[:-5] for p in files if p.name.endswith(".yaml"))


def _read_yaml(text: str, origin: str) -> dict:
    try:
        loaded = yaml.load(text, Loader=_Loader) or {}
    except yaml.YAMLError as err:
        raise UserError(f"{origin}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(loaded, dict):
        raise UserError(f"{origin}: expected a mapping of sections (data, model, train, ...)")
    return loaded


def _section_class(name: str):
    hints = get_type_hints(Config)
    if name not in SECTIONS:
        raise UserError(f"unknown config section {name!r}; allowed: {', '.join(SECTIONS)}")
    return hints[name]


def _coerce(key: str, value: Any, kind: type) -> Any:
    """Check a value against its field's type; ints are accepted where floats are expected."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is float and isinstance(value, str):
        try:  # YAML 1.1 reads "1e-3" (no decimal point) as a string
            return float(value)
        except ValueError:
            pass
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        expected = "true or false" if kind is bool else kind.__name__
        raise UserError(f"{key}={value!r}: expected {expected}")
    return value


def _set(cfg: Config, key: str, value: Any) -> None:
    section, _, name = key.partition(".")
    cls = _section_class(section)
    hints = get_type_hints(cls)
    if name not in hints:
        raise UserError(f"unknown key {key!r}; allowed in {section}: {', '.join(hints)}")
    setattr(getattr(cfg, section), name, _coerce(key, value, hints[name]))


def _merge(cfg: Config, tree: dict, origin: str) -> list[str]:
    """Set every `section.key` of `tree`; returns the keys it set."""
    keys = []
    for section, values in tree.items():
        if section == "preset":
            continue
        _section_class(section)
        if not isinstance(values, dict):
            raise UserError(f"{origin}: section {section!r} must be a mapping")
        for name, value in values.items():
            _set(cfg, f"{section}.{name}", value)
            keys.append(f"{section}.{name}")
    return keys


def parse_override(item: str) -> tuple[str, Any]:
    key, sep, raw = item.partition("=")
    if not sep or "." not in key:
        raise UserError(f"bad override {item!r}: expected section.key=value, e.g. train.batch_size=128")
    try:
        value = yaml.load(raw, Loader=_Loader) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def load_config(preset: str = "mnist-dcgan", config_file: str | None = None,
                overrides: list[str] | tuple = ()) -> Config:
    """Preset, then the user's YAML file, then `key=value` overrides; fitted to the dataset's image
    shape (what the user set, not the preset, must agree with it) and validated."""
    from ganscale.validation import fit_to_dataset, validate

    if preset not in preset_names():
        raise UserError(f"unknown preset {preset!r}; allowed: {', '.join(preset_names())}")
    cfg = Config(preset=preset)
    text = resources.files("ganscale.presets").joinpath(f"{preset}.yaml").read_text()
    _merge(cfg, _read_yaml(text, f"preset {preset}"), f"preset {preset}")
    user_keys: list[str] = []
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise UserError(f"--config {config_file}: file not found")
        user_keys += _merge(cfg, _read_yaml(path.read_text(), str(path)), str(path))
    for item in overrides:
        key, value = parse_override(item)
        _set(cfg, key, value)
        user_keys.append(key)
    fit_to_dataset(cfg, set(user_keys))
    validate(cfg)
    return cfg


def config_from_dict(tree: dict) -> Config:
    """Rebuild a Config saved by `to_dict` (checkpoints, exported generators)."""
    from ganscale.validation import validate

    cfg = Config(preset=str(tree.get("preset", "custom")))
    _merge(cfg, tree, "saved config")
    validate(cfg)
    return cfg
