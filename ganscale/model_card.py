"""The model card (README.md) of a pushed generator: the Hub's YAML metadata, then what a visitor needs.

The metadata goes through huggingface_hub's `ModelCardData`, so it is spelled as the Hub parses it
(library name, tags, datasets, license, and the latest evaluation as `model-index` results). The body
shows the samples, how to load the model, the evaluation with the evaluator that measured it, and the
exact training config, so a reader can trust the numbers and reproduce the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from ganscale.eval.mnist_classifier import EVALUATOR_SHA256, WEIGHTS_FILE

EVALUATOR = f"ganscale MNIST evaluator ({WEIGHTS_FILE}, sha256 {EVALUATOR_SHA256[:12]})"
METRIC_NAMES = {"fid": "FID-MNIST", "kid": "KID-MNIST", "precision": "precision", "recall": "recall",
                "classifier_score": "classifier score", "cond_accuracy": "conditional accuracy"}
# Hub ids of the datasets ganscale can read by name (`ganscale prepare NAME`), for the card's `datasets`.
HUB_DATASETS = {"mnist": "ylecun/mnist", "fashion-mnist": "zalando-datasets/fashion_mnist",
                "cifar10": "uoft-cs/cifar10", "cifar100": "uoft-cs/cifar100", "svhn": "ufldl-stanford/svhn"}
SAMPLES_FILE = "samples.png"
TASKS = {False: "unconditional-image-generation", True: "image-generation"}  # model-index task


@dataclass
class Evaluation:
    """The metrics of one evaluation and where in training it was measured."""

    metrics: dict[str, float]
    step: int
    num: int


def latest_evaluation(run_dir: Path | None, step: int, saved: dict | None = None,
                      num: int = 0) -> Evaluation | None:
    """The evaluation that chose a best/ checkpoint (`saved`), else the run's latest one at or before
    `step` in metrics.jsonl: a later evaluation measured other weights than the ones pushed."""
    if saved:
        return Evaluation({k: float(v) for k, v in saved.items()}, step, num)
    path = run_dir / "metrics.jsonl" if run_dir is not None else None
    if path is None or not path.is_file():
        return None
    found = None
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a killed run
        metrics = {k[5:]: float(v) for k, v in record.items() if k.startswith("eval/")}
        if metrics and int(record.get("step", 0)) <= step:
            found = Evaluation(metrics, int(record["step"]), num)
    return found


def dataset_ids(config: dict) -> list[str]:
    """The Hub dataset the run trained on, when ganscale can tell."""
    data = config.get("data", {})
    if data.get("name", "mnist") == "mnist" and not data.get("path"):
        return [HUB_DATASETS["mnist"]]
    from ganscale.data.prepared import is_prepared, read_info

    if not data.get("path") or not is_prepared(data["path"]):
        return []
    source = read_info(data["path"]).source
    if source.get("kind") == "named" and source.get("location") in HUB_DATASETS:
        return [HUB_DATASETS[source["location"]]]
    location = str(source.get("location", ""))
    if source.get("kind") == "huggingface" and location.count("/") == 1 and not Path(location).exists():
        return [location]
    return []


def is_class_conditional(model: dict) -> bool:
    """Cluster-conditioned models draw their own classes: from outside they are unconditional."""
    return bool(model.get("num_classes")) and model.get("conditioning", "labels") == "labels"


def card_data(repo_id: str, config: dict, evaluation: Evaluation | None, license: str,
              datasets: list[str]):
    from huggingface_hub import EvalResult, ModelCardData

    model = config.get("model", {})
    tag = "class-conditional" if is_class_conditional(model) else "unconditional-image-generation"
    dataset = (datasets or ["custom"])[0]
    results = [EvalResult(task_type=TASKS[is_class_conditional(model)], dataset_type=dataset,
                          dataset_name=dataset, metric_type=name,
                          metric_value=round(value, 4), metric_name=METRIC_NAMES[name])
               for name, value in (evaluation.metrics.items() if evaluation else ()) if name in METRIC_NAMES]
    return ModelCardData(
        library_name="ganscale", license=license, datasets=datasets or None,
        tags=["gan", tag, str(model.get("arch", ""))],
        pipeline_tag=None if is_class_conditional(model) else "unconditional-image-generation",
        model_name=repo_id.split("/")[-1] if results else None, eval_results=results or None)


def _evaluation_section(evaluation: Evaluation | None) -> list[str]:
    if evaluation is None:
        return ["No evaluation was recorded for these weights (train with `eval.at_end=true`, or run "
                "`ganscale evaluate`)."]
    rows = [f"| {METRIC_NAMES.get(name, name)} | {value:.4f} |" for name, value in evaluation.metrics.items()]
    return [f"Measured with the {EVALUATOR} at step {evaluation.step}"
            + (f" on {evaluation.num} samples" if evaluation.num else "") + ":", "",
            "| metric | value |", "|---|---|", *rows]


def render(repo_id: str, config: dict, *, kimg: float, evaluation: Evaluation | None, license: str,
           datasets: list[str], version: str) -> str:
    """README.md: YAML metadata between `---` lines, then the card body."""
    model = config.get("model", {})
    kind = "class-conditional" if is_class_conditional(model) else "unconditional"
    size = model.get("image_size")
    body = [
        f"# {repo_id}", "",
        f"A {kind} GAN generator (`{model.get('arch')}`, {size}x{size}, {model.get('channels')} channel(s)) "
        f"trained with ganscale {version} for {kimg:g} kimg, preset `{config.get('preset')}`.", "",
        f"![samples from this generator]({SAMPLES_FILE})", "",
        "## Use", "", "```python", "import ganscale  # pip install 'ganscale[hub]'", "",
        f'g = ganscale.load_generator("hf://{repo_id}")',
        "g.to_pil(g.generate(64, seed=0), nrow=8).save(\"grid.png\")  # uint8 [N, C, H, W] -> one grid",
        "```", "",
        "Loading reads `config.json` and `model.safetensors` only: no code runs, nothing is unpickled.", "",
        "## Evaluation", "", *_evaluation_section(evaluation), "",
        "## Training", "",
        f"`ganscale train --preset {config.get('preset')} --config config.yaml` with this config.yaml:", "",
        "```yaml", yaml.safe_dump(config, sort_keys=False).rstrip(), "```", ""]
    metadata = card_data(repo_id, config, evaluation, license, datasets).to_yaml()
    return f"---\n{metadata}\n---\n\n" + "\n".join(body)
