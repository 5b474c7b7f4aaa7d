"""One stored run, inspected: the models it compares and every inspection on them, as the CLI's
``inspect`` JSON and as the pieces the Compare page draws (each cacheable on its own).

The three models are the run's original (the model it started from), the unlearned model and
the retrained oracle, all loaded from the workspace (see `load_run`); the retrained model may
have been removed from the workspace, and every figure against it is then None.

Layer CKA is read against two references (`cka_references`): the *ceiling*, the CKA between the
retrained oracle and a second retrained model of another training seed (run seed + 1) on the same
forget set - as close to retraining as retraining itself gets - and the *floor*, the CKA between
the retrained oracle and an untrained network of the same architecture (fresh initialisation,
seed run seed + 2, shared with neither retrained model) - what no learning at all already scores.
An unlearned model's CKA to retraining means something only where the ceiling stands clearly
above the floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from unlearn_core.data import SplitDataset, load_dataset
from unlearn_core.forget import ForgetSet, resolve
from unlearn_core.inspect.cka import (
    ESTIMATE_PROBE_IMAGES,
    FORWARD_BATCH,
    LayerGrams,
    cka_per_layer,
    estimate_layer_grams_seconds,
    layer_grams,
)
from unlearn_core.inspect.membership import SCORES, SampleScores, best_attack, sample_scores
from unlearn_core.inspect.outputs import (
    OUTPUTS_PROBE_IMAGES,
    OutputsFn,
    estimate_outputs_seconds,
    pending_images,
    read_logits,
)
from unlearn_core.inspect.persample import still_remembered
from unlearn_core.inspect.predictions import PredictionMatrices, prediction_matrices
from unlearn_core.inspect.probe import features_probe_accuracy, probe_accuracy, probe_images, probe_rows
from unlearn_core.inspect.relearn import (
    DEFAULT_LR,
    DEFAULT_SHOTS,
    DEFAULT_STEPS,
    RelearnResult,
    relearn_test,
    split_shots,
)
from unlearn_core.inspect.sample import DEFAULT_PER_SIDE, InspectionSample, inspection_sample
from unlearn_core.models import ModelMeta, SplitClassifier, load_checkpoint, state_digest
from unlearn_core.models.checkpoint import read_meta
from unlearn_core.runs.one_run import run_models
from unlearn_core.workspace.fingerprint import data_fingerprint
from unlearn_core.workspace.store import MODEL_FILE, Entry, Workspace

WHO = ("original", "unlearned", "retrain")
CEILING_SEED_OFFSET = 1  # the ceiling's second retrained model trains with the run's seed + 1
FLOOR_SEED_OFFSET = 2  # the floor's untrained network is initialised with the run's seed + 2


@dataclass
class LoadedRun:
    """A stored run with its dataset, resolved forget set and models (`retrain` may be absent);
    `workspace` and `meta` (the original's recipe, as stored with the run) build the CKA references."""

    entry: Entry
    data: SplitDataset
    forget: ForgetSet
    models: dict[str, SplitClassifier]
    workspace: Workspace | None = None
    meta: ModelMeta | None = None

    @property
    def seed(self) -> int:
        return int(self.entry.info["seed"])


def run_dataset(entry: Entry) -> SplitDataset:
    """The dataset a run was made on, rebuilt from the options stored with its unlearned model."""
    _, meta = load_checkpoint(entry.file(MODEL_FILE))
    return load_dataset(meta.dataset, **dict(meta.dataset_options))


def load_run(workspace: Workspace, run_id: str, original: SplitClassifier, data: SplitDataset | None = None,
             models: tuple[SplitClassifier, SplitClassifier | None] | None = None) -> LoadedRun:
    """Load run `run_id` with `original`, the model it started from; ValueError when `original`
    is another model than the run's (its weights digest differs from the one stored). `data` and
    `models` (the run's unlearned and retrained models, as `comparison.run_models` returns them)
    are used when the caller has them loaded already, so nothing is read twice."""
    entry = workspace.get(run_id)
    if entry.kind != "run":
        raise ValueError(f"{run_id!r} is a {entry.kind}, not a run")
    stored = entry.info.get("model_digest")
    if stored is not None and state_digest(original) != stored:
        raise ValueError(f"run {run_id} started from another model than the one given; "
                         "pass the checkpoint it started from")
    data = data if data is not None else run_dataset(entry)
    unlearned, retrained = models if models is not None else run_models(workspace, entry)
    by_role: dict[str, SplitClassifier] = {"original": original, "unlearned": unlearned}
    if retrained is not None:
        by_role["retrain"] = retrained
    meta = read_meta(entry.file(MODEL_FILE))  # the metadata header only, not the weights
    return LoadedRun(entry, data, resolve(entry.info["forget"], data, int(entry.info["seed"])), by_role,
                     workspace, meta)


def run_original(entry: Entry, data: SplitDataset, *, device: torch.device, workspace: Workspace,
                 checkpoint: str | None = None) -> SplitClassifier:
    """The model a run started from: `checkpoint` when given, else the dataset's default (or the
    workspace's recipe-trained model of the run's architecture, as `runs.start_model.obtain_model` finds it)."""
    from unlearn_core.models.defaults import check_compatible
    from unlearn_core.runs.start_model import obtain_model

    if checkpoint is not None:
        model, meta = load_checkpoint(checkpoint)
        check_compatible(meta, data)
        return model
    return obtain_model(data, entry.info.get("model"), seed=0, device=device, workspace=workspace)[0]


# -- the CKA references --------------------------------------------------------------------------
def untrained_model(meta: ModelMeta, seed: int) -> SplitClassifier:
    """A freshly initialised network of `meta`'s architecture (init seeded with `seed`), in eval
    mode: the CKA floor. Torch's global random state is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return meta.build().eval()


def second_retrained(run: LoadedRun, *, device: torch.device, train: bool = True) -> SplitClassifier | None:
    """The CKA ceiling's second retrained model: the run's recipe trained at seed run seed + 1 on
    the run's resolved forget set (`runs.get_retrained`, cached in the run's workspace like every
    oracle). With `train` False only a cached one is returned (None when there is none); None also
    without the run's metadata. The original model is not modified; torch's global random state is
    left as it was."""
    if run.meta is None:
        return None
    with torch.random.fork_rng():  # training seeds torch's global generator, loading draws from it
        return _second_retrained(run, run.meta, run.seed + CEILING_SEED_OFFSET, device=device, train=train)


def _second_retrained(run: LoadedRun, meta: ModelMeta, seed: int, *, device: torch.device,
                      train: bool) -> SplitClassifier | None:
    if not train:
        found = _cached_retrained(run, meta, seed)
        return None if found is None else run.workspace.load_model(found.id)[0]  # found: the workspace exists
    from unlearn_core.methods import UnlearnData
    from unlearn_core.runs.one_run import get_retrained

    return get_retrained(run.models["original"], meta, UnlearnData(run.data, run.forget), seed=seed, device=device,
                         workspace=run.workspace).model


def _cached_retrained(run: LoadedRun, meta: ModelMeta, seed: int) -> Entry | None:
    """The workspace's entry of the model retrained with `meta`'s recipe at `seed` on the run's
    forget set, or None (nothing is loaded or trained)."""
    if run.workspace is None:
        return None
    from unlearn_core.runs.one_run import retrain_key  # runs imports the metrics and methods: only when needed

    return run.workspace.find("model", retrain_key(meta, run.forget.forget_idx, seed, data_fingerprint(run.data)))


def _n_references(run: LoadedRun) -> int:
    """How many reference models `cka_references(run, train=False)` returns, without loading them."""
    if run.meta is None or "retrain" not in run.models:
        return 0
    return 1 + (_cached_retrained(run, run.meta, run.seed + CEILING_SEED_OFFSET) is not None)


def cka_references(run: LoadedRun, *, device: torch.device, train: bool = True) -> dict[str, SplitClassifier]:
    """The reference models of the layer CKA: ``retrain_2`` (see `second_retrained`; absent when
    it is not available) and ``untrained`` (see `untrained_model`). Empty without the run's
    metadata or without its retrained model (both references are measured against it)."""
    if run.meta is None or "retrain" not in run.models:
        return {}
    refs = {"untrained": untrained_model(run.meta, run.seed + FLOOR_SEED_OFFSET)}
    second = second_retrained(run, device=device, train=train)
    if second is not None:
        refs["retrain_2"] = second
    return refs


def references_info(run: LoadedRun) -> dict[str, Any]:
    """What the CKA references are (the ``cka_references`` block of the inspect JSON)."""
    return {
        "ceiling": "retrained model vs a second retrained model (another training seed, same forget set)",
        "floor": "retrained model vs an untrained network of the same architecture (fresh initialisation)",
        "ceiling_seed": run.seed + CEILING_SEED_OFFSET,
        "floor_seed": run.seed + FLOOR_SEED_OFFSET,
        "estimators": {"cka_*": "biased linear CKA (Kornblith et al. 2019)",
                       "cka_*_debiased": "linear CKA over the unbiased HSIC (Song et al. 2012; Nguyen et al. 2021)"},
    }


# -- the inspections ---------------------------------------------------------------------------
PAIRS: dict[str, tuple[str, str]] = {  # pair -> the two models it compares
    "vs_original": ("unlearned", "original"),
    "vs_retrain": ("unlearned", "retrain"),
    "original_vs_retrain": ("original", "retrain"),
    "ceiling": ("retrain_2", "retrain"),
    "floor": ("untrained", "retrain"),
}


@dataclass
class LayerSimilarity:
    """Linear CKA per layer (see `cka`) of the unlearned model against the original and the
    retrained model, of the original against the retrained one (the distance unlearning should
    cover), and the references: ``ceiling`` (a second retrained model against the retrained one)
    and ``floor`` (an untrained network against the retrained one); on the forget sample and on
    the test sample, with the biased (`cka`) and the debiased (`cka_debiased`) estimator. None
    where a model of the pair is absent."""

    names: list[str]
    cka: dict[str, dict[str, list[float] | None]]  # "forget" | "test" -> pair -> per-layer values
    cka_debiased: dict[str, dict[str, list[float] | None]] | None = None

    def rows(self) -> list[dict[str, Any]]:
        """One row per layer: the CLI's ``layers`` (forget sample) plus the test-sample values
        (``_test``), each pair as ``cka_<pair>`` and, debiased, ``cka_<pair>_debiased``."""
        out = []
        estimators = (("", self.cka), ("_debiased", self.cka_debiased or {}))
        for i, name in enumerate(self.names):
            row: dict[str, Any] = {"name": name}
            for est, table in estimators:
                for side, suffix in (("forget", ""), ("test", "_test")):
                    for pair in PAIRS:
                        values = table.get(side, {}).get(pair)
                        row[f"cka_{pair}{est}{suffix}"] = None if values is None else values[i]
            out.append(row)
        return out


def layer_similarity(models: dict[str, nn.Module], data: SplitDataset, sample: InspectionSample, *,
                     device: torch.device, references: dict[str, nn.Module] | None = None) -> LayerSimilarity:
    """CKA per layer on the inspection sample; each model (and each reference model, see
    `cka_references`) runs once per side, in batches of `cka.FORWARD_BATCH` images."""
    everyone = {**models, **(references or {})}
    cka: dict[str, dict[str, list[float] | None]] = {}
    debiased: dict[str, dict[str, list[float] | None]] = {}
    names: list[str] = []
    for side, x in (("forget", data.train.subset(sample.forget_idx).x), ("test", data.test.subset(sample.test_idx).x)):
        grams = {who: layer_grams(m, x, device=device, batch_size=FORWARD_BATCH) for who, m in everyone.items()}
        names = grams["unlearned"].names
        cka[side] = {pair: _pair_cka(grams, a, b, debiased=False) for pair, (a, b) in PAIRS.items()}
        debiased[side] = {pair: _pair_cka(grams, a, b, debiased=True) for pair, (a, b) in PAIRS.items()}
    return LayerSimilarity(names, cka, debiased)


def _pair_cka(grams: dict[str, LayerGrams], a: str, b: str, *, debiased: bool) -> list[float] | None:
    return cka_per_layer(grams[a], grams[b], debiased=debiased) if a in grams and b in grams else None


def prediction_view(models: dict[str, nn.Module], data: SplitDataset, forget: ForgetSet, *,
                    device: torch.device, outputs: OutputsFn | None = None) -> dict[str, PredictionMatrices | None]:
    """Prediction matrices on every forget sample (``forget``) and on the forgotten slice of the
    test set (``test``; None without a test counterpart). The logits come from `outputs` when
    given (`inspect.outputs`), else from a forward pass."""
    out: dict[str, PredictionMatrices | None] = {"test": None}
    for side, (split, rows) in _prediction_sides(forget).items():
        preds = {who: read_logits(outputs, models, who, data, split, rows, device=device).argmax(1).numpy()
                 for who in models}
        out[side] = prediction_matrices(preds, data.num_classes)
    return out


def _prediction_sides(forget: ForgetSet) -> dict[str, tuple[str, np.ndarray]]:
    """The rows `prediction_view` predicts: side -> (split, rows)."""
    sides = {"forget": ("train", forget.forget_idx)}
    if forget.test_forget_idx is not None and len(forget.test_forget_idx):
        sides["test"] = ("test", forget.test_forget_idx)
    return sides


def model_scores(models: dict[str, nn.Module], data: SplitDataset, sample: InspectionSample, *,
                 device: torch.device, outputs: OutputsFn | None = None) -> dict[str, SampleScores]:
    """Per-sample confidence, loss and prediction of every model on the forget sample and on the
    membership attack's non-member test images (logits from `outputs` when given)."""
    forget_y, nonmember_y = data.train.y[torch.as_tensor(sample.forget_idx)], data.test.y[torch.as_tensor(sample.nonmember_idx)]
    return {who: sample_scores(read_logits(outputs, models, who, data, "train", sample.forget_idx, device=device),
                               forget_y,
                               read_logits(outputs, models, who, data, "test", sample.nonmember_idx, device=device),
                               nonmember_y)
            for who in models}


def probe_view(models: dict[str, nn.Module], data: SplitDataset, forget: ForgetSet, sample: InspectionSample, *,
               device: torch.device, outputs: OutputsFn | None = None) -> dict[str, Any]:
    """Linear-probe accuracy per model (see `probe`) and what the probe separates (``what``); the
    penultimate features come from `outputs` when given."""
    if outputs is None:
        pos_x, neg_x, what = probe_images(data, forget, sample)
        return {"what": what, **{who: probe_accuracy(m, pos_x, neg_x, device=device, seed=sample.seed)
                                 for who, m in models.items()}}
    split, pos, neg, what = probe_rows(data, forget, sample)
    return {"what": what, **{who: features_probe_accuracy(outputs(who, split, pos).features,
                                                          outputs(who, split, neg).features, seed=sample.seed)
                             for who in models}}


def relearn_view(models: dict[str, nn.Module], data: SplitDataset, sample: InspectionSample, *,
                 steps: int = DEFAULT_STEPS, shots: int = DEFAULT_SHOTS, lr: float = DEFAULT_LR,
                 device: torch.device) -> RelearnResult:
    """The relearn test (see `relearn`) on `shots` forget samples of the inspection sample,
    evaluated on the rest of it."""
    train_idx, eval_idx = split_shots(sample.forget_idx, shots, sample.seed)
    tr, ev = data.train.subset(train_idx), data.train.subset(eval_idx)
    return relearn_test(models, tr.x, tr.y, ev.x, ev.y, steps=steps, lr=lr, seed=sample.seed, device=device)


# -- estimates: measured before the work, for the page's waiting lines ----------------------------
@dataclass(frozen=True)
class WorkEstimate:
    """About how long an inspection will take, measured here and now before it runs (`seconds`),
    and what it will do: `n_models` models, each over image sets of sizes `sizes` (one per side
    for the CKA; for the views reading stored outputs, the images of the model with the most
    outputs missing from the workspace). Nothing to do: 0 s, 0 models, no sizes."""

    seconds: float
    n_models: int
    sizes: tuple[int, ...]


NOTHING = WorkEstimate(0.0, 0, ())


def estimate_layer_similarity(run: LoadedRun, sample: InspectionSample, *, device: torch.device) -> WorkEstimate:
    """The time `layer_similarity` will take on `run`'s models and the CKA references available
    without training (`cka_references(run, train=False)`: the untrained network, the second
    retrained model when the workspace has it) over both sides of `sample`: a timed forward
    pass and Gram of the original on up to 64 forget images of the sample, scaled
    (`cka.estimate_layer_grams_seconds`). Training the ceiling's model is not included."""
    n_models = len(run.models) + _n_references(run)
    sizes = (len(sample.forget_idx), len(sample.test_idx))
    x = run.data.train.subset(sample.forget_idx[:ESTIMATE_PROBE_IMAGES]).x
    seconds = estimate_layer_grams_seconds(run.models["original"], x, n_models=n_models, sizes=sizes, device=device)
    return WorkEstimate(seconds, n_models, sizes)


def _estimate_outputs(run: LoadedRun, root: str | Path, requests: list[tuple[str, np.ndarray]]) -> WorkEstimate:
    """The forward passes an `OutputsFn` of `stored_outputs(root, run.models, run.data,
    run.forget.forget_idx)` will run for `requests` (`outputs.pending_images`), timed on the first
    request's images (`outputs.estimate_outputs_seconds`); `NOTHING` when the workspace has them."""
    pending = pending_images(root, run.models, run.data, run.forget.forget_idx, requests)
    total = sum(pending.values())
    if total == 0:
        return NOTHING
    split, rows = requests[0]
    part = run.data.train if split == "train" else run.data.test
    x = part.subset(np.asarray(rows, dtype=np.int64)[:OUTPUTS_PROBE_IMAGES]).x
    seconds = estimate_outputs_seconds(run.models["original"], x, n_images=total)
    return WorkEstimate(seconds, sum(1 for n in pending.values() if n), (max(pending.values()),))


def estimate_prediction_view(run: LoadedRun, root: str | Path) -> WorkEstimate:
    """The time `prediction_view` will take with the outputs of the workspace at `root`
    (`outputs.stored_outputs`): the forward passes over the forget set and the forgotten test
    slice whose outputs are not stored yet (the matrices themselves take milliseconds)."""
    return _estimate_outputs(run, root, list(_prediction_sides(run.forget).values()))


def estimate_probe_view(run: LoadedRun, sample: InspectionSample, root: str | Path) -> WorkEstimate:
    """The time `probe_view` will take with the outputs of the workspace at `root`: the forward
    passes over the probe's images whose outputs are not stored yet. Fitting the probes (about
    10 ms each) is not counted, nor importing scikit-learn the first time one is fitted."""
    split, pos, neg, _ = probe_rows(run.data, run.forget, sample)
    return _estimate_outputs(run, root, [(split, pos), (split, neg)])


def inspect_run(run: LoadedRun, *, device: torch.device, per_side: int = DEFAULT_PER_SIDE,
                relearn_steps: int = DEFAULT_STEPS, shots: int = DEFAULT_SHOTS, lr: float = DEFAULT_LR,
                remembered: int = 10, references: bool = True) -> dict[str, Any]:
    """Every inspection of a run as one JSON-friendly dict (the CLI's ``inspect --json``):
    ``run_id``, ``layers``, ``prediction_matrix``, ``probe``, ``relearn`` (accuracies as
    fractions), plus ``prediction_matrix_test``, ``still_remembered``, ``membership`` (per score
    of `membership.SCORES` and model: the threshold attack at its best threshold), the sample sizes and
    ``cka_references`` (what the layers' ``cka_ceiling`` / ``cka_floor`` compare; None without
    them). With `references` the ceiling's second retrained model is trained (once per
    workspace) when it is not cached; without, the reference fields are None."""
    sample = inspection_sample(run.data, run.forget, seed=run.seed, per_side=per_side)
    models = run.models
    refs = cka_references(run, device=device) if references else {}
    layers = layer_similarity(models, run.data, sample, device=device, references=refs)
    matrices = prediction_view(models, run.data, run.forget, device=device)
    scores = model_scores(models, run.data, sample, device=device)
    probe = probe_view(models, run.data, run.forget, sample, device=device)
    relearn = relearn_view(models, run.data, sample, steps=relearn_steps, shots=shots, lr=lr, device=device)
    classes = list(run.data.class_names)
    forget_matrix = matrices["forget"]
    test_matrix = matrices["test"]
    return {
        "run_id": run.entry.id,
        "method": run.entry.info.get("method"),
        "forget": run.entry.info.get("forget"),
        "layers": layers.rows(),
        "prediction_matrix": {"classes": classes, **_with_all(forget_matrix.to_dict())},
        "prediction_matrix_test": None if test_matrix is None else {"classes": classes, **_with_all(test_matrix.to_dict())},
        "probe": _with_all(probe),
        "relearn": _with_all(relearn.to_dict()),
        "still_remembered": still_remembered(scores, sample.forget_idx, remembered) if "retrain" in scores else None,
        "membership": {score: _with_all({who: best_attack(s, score) for who, s in scores.items()}) for score in SCORES},
        "sample": {"n_forget": len(sample.forget_idx), "n_test": len(sample.test_idx),
                   "n_nonmember": len(sample.nonmember_idx), "seed": sample.seed},
        "cka_references": references_info(run) if refs else None,
    }


def _with_all(values: dict[str, Any]) -> dict[str, Any]:
    """Every model key present (None for a missing retrained model), so the JSON shape is fixed."""
    return {**{who: None for who in WHO}, **values}


__all__ = ["NOTHING", "PAIRS", "LayerSimilarity", "LoadedRun", "WorkEstimate", "cka_references",
           "estimate_layer_similarity", "estimate_prediction_view", "estimate_probe_view", "inspect_run",
           "layer_similarity", "load_run", "model_scores", "prediction_view", "probe_view", "references_info",
           "relearn_view", "run_dataset", "run_original", "second_retrained", "summary_text", "untrained_model"]


def summary_text(report: dict[str, Any]) -> str:
    """A few readable lines of an `inspect_run` report (the CLI's output without ``--json``)."""
    def fmt(value: float | None) -> str:
        return "–" if value is None else f"{value:.3f}"

    lines = [f"run {report['run_id']} ({report['method']} forgetting {report['forget']})",
             "linear CKA on forget samples (unlearned vs original / vs retrained; references vs retrained: "
             "ceiling = retrained at another seed, floor = untrained), biased | debiased:"]
    lines += [f"  {row['name']:<12} "
              + " | ".join(f"{fmt(row['cka_vs_original' + e])} / {fmt(row['cka_vs_retrain' + e])} "
                           f"(ceiling {fmt(row.get('cka_ceiling' + e))}, floor {fmt(row.get('cka_floor' + e))})"
                           for e in ("", "_debiased"))
              for row in report["layers"]]
    probe, relearn = report["probe"], report["relearn"]
    lines.append("probe accuracy (" + probe["what"] + "): "
                 + ", ".join(f"{who} {fmt(probe[who])}" for who in WHO))
    lines.append(f"relearn: forget accuracy after {relearn['steps'][-1]} steps on {relearn['shots']} samples: "
                 + ", ".join(f"{who} {fmt(None if relearn[who] is None else relearn[who][-1])}" for who in WHO))
    return "\n".join(lines)
