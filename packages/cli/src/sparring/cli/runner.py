"""Run a pipeline: data -> every model x every defense trained -> every attack -> report.

Stages (each recorded in ``run.json`` when finished, skipped on ``--resume``):
``train:<model>/<defense>`` (checkpoints every epoch under ``checkpoints/``, the final
weights in ``models/``) and ``eval:<model>/<defense>`` (rows in ``eval/``), then the
report (``results.csv``, ``results.md``, plots). Seeds: every random choice derives from
the pipeline's ``seed`` and the stage's labels, so a resumed run gives the same table.
"""

from __future__ import annotations

import functools
import json
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from sparring.core.atomic import write_text
from sparring.core.config import PipelineConfig, check_names, dump_toml
from sparring.core.errors import ConfigError
from sparring.core.registry import get_registry

from .report import read_histories, write_report
from .rundir import RunDir

__all__ = ["run_pipeline", "Log"]

Log = Callable[[str], None]


def _seed(root: int, *labels: str) -> int:
    return int(np.random.SeedSequence([root, *(zlib.crc32(s.encode()) for s in labels)]).generate_state(1)[0] >> 1)


def _arrays(dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*dataset.batches(4096))
    return np.concatenate(xs), np.concatenate(ys)


def load_data(cfg: PipelineConfig) -> dict[str, Any]:
    """Train / validation / test datasets as the pipeline asks (subsets seeded)."""
    from sparring.data import load_dataset

    d = cfg.data
    train = load_dataset(d.dataset, **{**d.params, "split": d.train_split})
    test = load_dataset(d.dataset, **{**d.params, "split": d.test_split})
    if d.value_range is not None:
        train, test = train.with_value_range(tuple(d.value_range)), test.with_value_range(tuple(d.value_range))
    validation = None
    if d.validation_size:
        if d.validation_size >= len(train):
            raise ConfigError(f"data.validation_size = {d.validation_size} leaves no training data ({len(train)})")
        train, validation = train.split(d.validation_size, seed=_seed(cfg.seed, "validation"))
    if d.train_size is not None and d.train_size < len(train):
        train = train.subset(d.train_size, seed=_seed(cfg.seed, "train"))
    if d.test_size is not None and d.test_size < len(test):
        test = test.subset(d.test_size, seed=_seed(cfg.seed, "test"))
    return {"train": train, "validation": validation, "test": test}


def _reshaped(dataset: Any, shape: tuple[int, ...]) -> Any:
    """``dataset`` with samples viewed as ``shape`` (same number of values)."""
    if dataset is None or tuple(dataset.info.input_shape) == tuple(shape):
        return dataset
    from sparring.data.dataset import ArrayDataset

    x, y = _arrays(dataset)
    if int(np.prod(x.shape[1:])) != int(np.prod(shape)):
        raise ConfigError(
            f"the model takes samples of shape {shape}, the dataset gives {x.shape[1:]}: set the model's input_shape"
        )
    info = dataset.info
    return ArrayDataset(x.reshape(len(x), *shape), y, name=info.name, classes=info.classes,
                        value_range=info.value_range)


def slug(model_label: str, defense_label: str) -> str:
    """File-name stem of one (model, defense) run: ``models/<slug>.safetensors``,
    ``checkpoints/<slug>/``, ``eval/<slug>.json`` in a run directory."""
    return f"{model_label}__{defense_label}"


def defense_of(stem: str) -> str:
    """The defense label in a :func:`slug` (the whole stem if it is no slug)."""
    return stem.partition("__")[2] or stem


def build(cfg: PipelineConfig, entry: Any, info: Any, *, dropout: float | None = None) -> Any:
    """The model of ``entry``, with the dataset's classes and value range unless set, and
    ``dropout`` (a defense entry's) in place of the model's own."""
    from sparring.models import build_model

    spec = get_registry().get_model(entry.model)
    params = dict(entry.params)
    frontend = params.pop("frontend", None)
    if dropout is not None:
        if "dropout" not in spec.params:
            raise ConfigError(f"a defense entry sets dropout = {dropout}, but model {entry.model!r} "
                              f"({entry.label}) has no dropout parameter")
        params["dropout"] = dropout
    if "num_classes" in spec.params and "num_classes" not in params:
        params["num_classes"] = len(info.classes)
    if "value_range" in spec.params and "value_range" not in params:
        params["value_range"] = tuple(info.value_range)
    if "input_shape" in spec.params and "input_shape" not in params and entry.model in ("dense", "cnn", "resnet18"):
        params["input_shape"] = tuple(info.input_shape)
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    model = build_model(entry.model, backend=cfg.backend, device=cfg.device, seed=_seed(cfg.seed, "init", entry.label),
                        **params)
    if frontend is not None:
        _attach_frontend(model, frontend, tuple(info.input_shape), entry.label)
    return model


def _attach_frontend(model: Any, settings: Any, raw_shape: tuple[int, ...], label: str) -> None:
    """``params.frontend = { n_fft = 1024, hop_length = 512, n_mels = 128, db = true, ... }``:
    a Mel front-end before the network; the model then takes the dataset's raw samples."""
    from sparring.data.features import MelFrontend

    if not isinstance(settings, dict):
        raise ConfigError(f"models.{label}.params.frontend must be a table of Mel settings, got {settings!r}")
    frontend = MelFrontend(**settings)
    made = frontend.output_shape(raw_shape)
    if made != tuple(model.input_shape):
        raise ConfigError(
            f"models.{label}: the frontend makes {made} of samples {raw_shape}, the model takes "
            f"{tuple(model.input_shape)}; set the model's input_shape = {list(made)} (frames, mels)"
        )
    model.set_frontend(frontend, raw_shape)


def _defense(entry: Any) -> Any:
    spec = get_registry().get_defense(entry.defense)
    return spec.create(entry.params)


def _attack(entry: Any) -> tuple[Callable[..., Any], bool]:
    spec = get_registry().get_attack(entry.attack)
    params = spec.resolve_params(dict(entry.params))
    return functools.partial(spec.load(), **params), bool(getattr(spec, "minimum_norm", False))


def _overfitting_check(cfg: PipelineConfig, defense: Any, validation: Any, label: str) -> Any:
    """The catastrophic-overfitting check of ``[train] overfitting_check`` for a defense that
    trains on attacks of radius ``eps``; None otherwise."""
    from sparring.defenses import OverfittingCheck

    t = cfg.train
    if not t.overfitting_check:
        return None
    if validation is None or len(validation) == 0:
        raise ConfigError("train.overfitting_check needs a validation batch: set data.validation_size > 0")
    eps = getattr(defense, "eps", None)
    if not eps:  # no attack in training (standard, gaussian-latent, ...): nothing can overfit to it
        return None
    x, y = next(iter(validation.batches(min(len(validation), 256))))
    return OverfittingCheck(x, y, eps=float(eps), drop=t.overfitting_drop, rollback=t.overfitting_rollback,
                            seed=_seed(cfg.seed, "overfitting", label))


def check_pipeline(cfg: PipelineConfig) -> None:
    """Every registered name and parameter of ``cfg``, and its augmentations (no data read)."""
    check_names(cfg, get_registry())
    from sparring.data.transforms import augmentation

    for entries in (cfg.data.augment, *(d.augment for d in cfg.defenses)):
        if entries:
            augmentation(entries, tuple(cfg.data.value_range or (0.0, 1.0)))
    for d in cfg.defenses:
        if d.dropout is not None:
            for m in cfg.models:
                if "dropout" not in get_registry().get_model(m.model).params:
                    raise ConfigError(f"defenses.{d.label}.dropout: model {m.model!r} ({m.label}) has no dropout "
                                      "parameter; drop the setting or use a model that takes one")


def _augmentation(cfg: PipelineConfig, d_entry: Any, info: Any, shape: tuple[int, ...]) -> Any:
    """The defense entry's ``augment`` (else ``data.augment``) as ``f(x, seed)`` on batches
    of model-shaped samples (the transforms see the dataset's own sample shape, e.g.
    images for a model fed pixel sequences)."""
    entries = d_entry.augment if d_entry.augment is not None else cfg.data.augment
    if not entries:
        return None
    from sparring.data.transforms import augmentation

    chain = augmentation(entries, tuple(info.value_range))
    native = tuple(info.input_shape)

    def augment(x: np.ndarray, seed: int) -> np.ndarray:
        return chain(x.reshape(len(x), *native), seed).reshape(len(x), *shape)

    return augment


class _EpochLog:
    def __init__(self, run: RunDir, label: str, log: Log, progress: Any) -> None:
        self.run, self.label, self.log, self.progress = run, label, log, progress

    def on_step(self, epoch: int, batch: int, batches: int, loss: float) -> None:
        if self.progress is not None:
            self.progress(f"{self.label} epoch {epoch + 1}", batch + 1, batches, f"loss {loss:.4f}")

    def on_epoch(self, record: dict[str, Any]) -> None:
        line = json.dumps({"run": self.label, **record})
        path = self.run.root / "metrics.jsonl"
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
        acc = record.get("val_clean_accuracy")
        self.log(f"{self.label}: epoch {record['epoch']} loss {record['loss']:.4f} train acc "
                 f"{record['train_accuracy']:.3f}" + (f" val acc {acc:.3f}" if acc is not None else "")
                 + f" ({record['train_seconds']:.1f}s)")


def evaluation_subset(cfg: PipelineConfig, test: Any) -> Any:
    """The ``evaluation.size`` test samples the attacks run on (a seeded subset), or all."""
    size = cfg.evaluation.size
    if size is not None and size < len(test):
        return test.subset(size, seed=_seed(cfg.seed, "evaluation"))
    return test


def evaluate(cfg: PipelineConfig, model: Any, test: Any, model_label: str, defense_label: str,
             progress: Callable[..., None] | None = None) -> list[dict[str, Any]]:
    """Robust accuracy of ``model`` under every attack of the pipeline (per-sample worst case
    included); ``progress(description, done, total, note)`` after each attack."""
    from sparring.attacks.evaluate import accuracy_at_thresholds, median_norm, robust_accuracy
    from sparring.defenses.trainer import evaluate_accuracy

    x, y = _arrays(test)
    bs = cfg.evaluation.batch_size
    clean, _ = evaluate_accuracy(model, test, batch_size=bs)
    rows: list[dict[str, Any]] = [{"model": model_label, "defense": defense_label, "attack": "none", "eps": 0.0,
                                   "clean_accuracy": clean, "robust_accuracy": clean}]
    robust_masks: dict[float, np.ndarray] = {}
    for i, entry in enumerate(cfg.attacks):
        if progress is not None:
            progress(f"{model_label}/{defense_label} attacks", i, len(cfg.attacks), entry.label)
        fn, minimum_norm = _attack(entry)
        if minimum_norm:
            be = model.backend
            norms, success = [], []
            for i in range(0, len(x), bs):
                res = fn(model, x[i:i + bs], y[i:i + bs])
                norms.append(be.to_numpy(res.norms))
                success.append(be.to_numpy(res.success))
            n, s = np.concatenate(norms), np.concatenate(success)
            accs = accuracy_at_thresholds(n, s, entry.eps) if entry.eps else []
            for e, a in zip(entry.eps, accs):
                rows.append({"model": model_label, "defense": defense_label, "attack": entry.label, "eps": float(e),
                             "clean_accuracy": clean, "robust_accuracy": float(a)})
            rows.append({"model": model_label, "defense": defense_label, "attack": entry.label, "eps": None,
                         "clean_accuracy": clean, "median_norm": median_norm(n, s)})
            continue
        if not entry.eps:  # an attack with no budget (spatial): one row, eps None
            report = robust_accuracy(model, x, y, {entry.label: fn}, [0.0], batch_size=bs)
            rows.append({"model": model_label, "defense": defense_label, "attack": entry.label, "eps": None,
                         "clean_accuracy": clean, "robust_accuracy": float(report.robust[entry.label][0].mean())})
            continue
        report = robust_accuracy(model, x, y, {entry.label: fn}, entry.eps, batch_size=bs)
        mask = report.robust[entry.label]
        for e, row_mask in zip(report.eps, mask):
            rows.append({"model": model_label, "defense": defense_label, "attack": entry.label, "eps": e,
                         "clean_accuracy": clean, "robust_accuracy": float(row_mask.mean())})
            robust_masks[e] = robust_masks.get(e, report.clean_correct) & row_mask
    if progress is not None and cfg.attacks:
        progress(f"{model_label}/{defense_label} attacks", len(cfg.attacks), len(cfg.attacks), "done")
    if len([a for a in cfg.attacks if a.eps]) > 1:
        for e, m in sorted(robust_masks.items()):
            rows.append({"model": model_label, "defense": defense_label, "attack": "worst-case", "eps": e,
                         "clean_accuracy": clean, "robust_accuracy": float(m.mean())})
    return rows


def run_pipeline(cfg: PipelineConfig, run: RunDir, *, resume: bool = False, log: Log = print,
                 progress: Callable[..., None] | None = None) -> dict[str, Any]:
    """Run every stage of ``cfg`` in ``run``; returns the results rows and histories."""
    from sparring.defenses import Trainer

    check_pipeline(cfg)  # every name and parameter, before any work
    run.start(cfg.name, dump_toml(cfg), resume=resume)
    try:
        data = load_data(cfg)
        all_rows: list[dict[str, Any]] = []
        histories: dict[str, list[dict[str, Any]]] = {}
        examples: dict[str, Any] = {}
        for m_entry in cfg.models:
            for d_entry in cfg.defenses:
                label = f"{m_entry.label}/{d_entry.label}"
                stem = slug(m_entry.label, d_entry.label)
                model = build(cfg, m_entry, data["train"].info, dropout=d_entry.dropout)
                shape = tuple(model.input_shape)
                train, val, test = (_reshaped(data[k], shape) for k in ("train", "validation", "test"))
                weights = run.root / "models" / f"{stem}.safetensors"
                if run.done(f"train:{label}") and weights.exists():
                    model.load(str(weights))
                    log(f"{label}: trained (resumed from {weights})")
                else:
                    robust_attack = None
                    if cfg.train.best_on == "robust":
                        if not cfg.attacks or not cfg.attacks[0].eps:
                            raise ConfigError("train.best_on = 'robust' needs an [[attacks]] entry with eps")
                        fn, _ = _attack(cfg.attacks[0])
                        robust_attack = functools.partial(fn, eps=max(cfg.attacks[0].eps))
                    defense = _defense(d_entry)
                    trainer = Trainer(model, defense, cfg.train, seed=_seed(cfg.seed, "train", label),
                                      checkpoint_dir=run.root / "checkpoints" / stem, robust_attack=robust_attack,
                                      validation_batch_size=cfg.evaluation.batch_size,
                                      callbacks=[_EpochLog(run, label, log, progress)],
                                      augment=_augmentation(cfg, d_entry, data["train"].info, shape),
                                      overfitting=_overfitting_check(cfg, defense, val, label))
                    trainer.fit(train, val, resume=resume)
                    model.save(str(weights))
                    run.mark(f"train:{label}")
                histories[label] = read_histories(run.root).get(label, [])
                eval_path = run.root / "eval" / f"{stem}.json"
                if run.done(f"eval:{label}") and eval_path.exists():
                    rows = json.loads(eval_path.read_text(encoding="utf-8"))
                else:
                    test = evaluation_subset(cfg, test)
                    rows = evaluate(cfg, model, test, m_entry.label, d_entry.label, progress)
                    write_text(eval_path, json.dumps(rows, indent=1))
                    run.mark(f"eval:{label}")
                    log(f"{label}: " + ", ".join(
                        f"{r['attack']}@{r['eps']:g} {r['robust_accuracy']:.3f}" for r in rows
                        if r.get("robust_accuracy") is not None and r["eps"] is not None))
                all_rows += rows
                if not examples and cfg.report.examples and cfg.attacks:
                    examples = _examples(cfg, model, test, label)
        write_report(run.root, cfg, all_rows, histories, examples)
        run.finish()
        return {"rows": all_rows, "histories": histories}
    except BaseException as err:
        run.finish(error=f"{type(err).__name__}: {err}")
        raise


def _examples(cfg: PipelineConfig, model: Any, test: Any, label: str) -> dict[str, Any]:
    """Clean vs adversarial inputs and predictions for the report's example grid (the first
    attack with a budget, at its largest eps)."""
    entry = next((a for a in cfg.attacks if a.eps and not _attack(a)[1]), None)
    if entry is None:
        return {}
    fn, _ = _attack(entry)
    n = min(cfg.report.examples, len(test))
    x, y = test[np.arange(n)]
    be = model.backend
    xp = be.xp
    eps = max(entry.eps)
    res = fn(model, x, y, eps=eps)
    with be.no_grad():
        clean_pred = be.to_numpy(xp.argmax(model(be.asarray(x)), axis=1))
        adv_pred = be.to_numpy(xp.argmax(model(res.x_adv), axis=1))
    return {"label": label, "attack": entry.label, "eps": eps, "x": np.asarray(x), "x_adv": be.to_numpy(res.x_adv),
            "y": np.asarray(y), "clean_pred": clean_pred, "adv_pred": adv_pred,
            "classes": list(test.info.classes), "value_range": tuple(test.info.value_range)}
