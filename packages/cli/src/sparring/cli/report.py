"""A run's report: ``results.csv``, ``results.md`` (robust accuracy table) and PNG plots.

Plots: ``robust_accuracy.png`` (robust accuracy vs eps, one panel per attack, one line
per model/defense), ``training.png`` (loss and validation accuracy per epoch) and
``examples.png`` (clean vs adversarial inputs with the model's predictions).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sparring.core.atomic import write_bytes, write_text

__all__ = ["write_report", "rerender", "markdown_table", "rows_csv", "read_histories"]

COLUMNS = ("model", "defense", "attack", "eps", "clean_accuracy", "robust_accuracy", "median_norm")


def rows_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in COLUMNS})
    return buf.getvalue()


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """One line per model/defense; columns: clean accuracy, then each attack@eps (percent)."""
    runs: dict[tuple[str, str], dict[str, str]] = {}
    cols: list[str] = []
    for r in rows:
        key = (r["model"], r["defense"])
        runs.setdefault(key, {})
        if r["attack"] == "none":
            runs[key]["clean"] = f"{100 * r['clean_accuracy']:.1f}"
            continue
        if r.get("robust_accuracy") is not None:
            col = f"{r['attack']} {r['eps']:g}" if r.get("eps") is not None else r["attack"]
            value = f"{100 * r['robust_accuracy']:.1f}"
        elif r.get("median_norm") is not None:
            col, value = f"{r['attack']} median norm", f"{r['median_norm']:.3g}"
        else:
            continue
        if col not in cols:
            cols.append(col)
        runs[key][col] = value
    header = ["model", "defense", "clean", *cols]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for (m, d), vals in runs.items():
        lines.append("| " + " | ".join([m, d, vals.get("clean", ""), *(vals.get(c, "") for c in cols)]) + " |")
    return "\n".join(lines)


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_LINESTYLES = ("-", "--", ":", "-.")


def _styles(keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Line style per (model, defense): with several models and several defenses, the
    colour names the model and the marker (and line style) the defense, so that a grid of
    16 runs stays readable (the same in every plot: names are taken in sorted order);
    otherwise one colour per run."""
    models = sorted({m for m, _ in keys})
    defenses = sorted({d for _, d in keys})
    if len(models) > 1 and len(defenses) > 1:
        return {(m, d): {"color": f"C{models.index(m) % 10}", "marker": _MARKERS[defenses.index(d) % len(_MARKERS)],
                         "ls": _LINESTYLES[defenses.index(d) % len(_LINESTYLES)]} for m, d in keys}
    rank = {key: i for i, key in enumerate(sorted(set(keys)))}
    return {key: {"color": f"C{rank[key] % 10}", "marker": _MARKERS[(rank[key] // 10) % len(_MARKERS)], "ls": "-"}
            for key in keys}


def _legend(ax: Any, entries: int) -> None:
    """A legend inside the axes for a few lines, beside them (in columns) for many."""
    if entries <= 8:
        ax.legend(fontsize=7)
    else:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), ncol=1 + entries // 20)


def _plots(root: Path, rows: Sequence[Mapping[str, Any]], histories: Mapping[str, list[dict[str, Any]]],
           examples: Mapping[str, Any]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    attacks = [a for a in dict.fromkeys(r["attack"] for r in rows)
               if a != "none" and any(r["attack"] == a and r.get("eps") is not None and r.get("robust_accuracy")
                                      is not None for r in rows)]
    if attacks:
        fig, axes = plt.subplots(1, len(attacks), figsize=(4.2 * len(attacks), 3.4), squeeze=False)
        keys = list(dict.fromkeys((r["model"], r["defense"]) for r in rows))
        styles = _styles(keys)
        for ax, attack in zip(axes[0], attacks):
            for key in keys:
                pts = sorted((0.0, r["clean_accuracy"]) if r["attack"] == "none" else (r["eps"], r["robust_accuracy"])
                             for r in rows if (r["model"], r["defense"]) == key
                             and (r["attack"] in ("none", attack)) and r.get("robust_accuracy") is not None
                             and r.get("eps") is not None)
                ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], label=f"{key[0]}/{key[1]}", **styles[key])
            ax.set(title=attack, xlabel="eps", ylabel="accuracy (%)", ylim=(0, 100))
            ax.grid(alpha=0.3)
        _legend(axes[0][-1], len(keys))
        write_bytes(root / "robust_accuracy.png", _png(fig))
        plt.close(fig)
        written.append("robust_accuracy.png")
    if any(histories.values()):
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
        labels = [label for label, hist in histories.items() if hist]
        styles = _styles([tuple(label.partition("/")[::2]) for label in labels])
        for label in labels:
            hist = histories[label]
            st = {k: v for k, v in styles[tuple(label.partition("/")[::2])].items() if k != "ls"}
            ep = [h["epoch"] for h in hist]
            a1.plot(ep, [h["loss"] for h in hist], label=label, **st)
            if "val_clean_accuracy" in hist[0]:
                a2.plot(ep, [100 * h["val_clean_accuracy"] for h in hist], label=f"{label} clean", **st)
            if "val_robust_accuracy" in hist[0]:
                a2.plot(ep, [100 * h["val_robust_accuracy"] for h in hist], ls="--", label=f"{label} robust", **st)
            else:
                a2.plot(ep, [100 * h["train_accuracy"] for h in hist], ls=":", label=f"{label} train", **st)
        a1.set(title="training loss", xlabel="epoch")
        a2.set(title="accuracy (%)", xlabel="epoch")
        _legend(a2, len(a2.get_lines()))
        write_bytes(root / "training.png", _png(fig))
        plt.close(fig)
        written.append("training.png")
    if examples:
        x, x_adv = examples["x"], examples["x_adv"]
        n = len(x)
        fig, axes = plt.subplots(2, n, figsize=(1.3 * n, 3.0), squeeze=False)
        lo, hi = examples["value_range"]
        classes = examples["classes"]
        for i in range(n):
            for row, (img, pred) in enumerate(((x[i], examples["clean_pred"][i]), (x_adv[i], examples["adv_pred"][i]))):
                ax = axes[row][i]
                ax.imshow(_as_image(img, lo, hi), cmap="gray", vmin=0, vmax=1)
                ok = pred == examples["y"][i]
                ax.set_title(str(classes[pred]), color="green" if ok else "red", fontsize=9)
                ax.axis("off")
        fig.suptitle(f"{examples['label']}: clean (top) vs {examples['attack']} eps={examples['eps']:g} (bottom)",
                     fontsize=9)
        write_bytes(root / "examples.png", _png(fig))
        plt.close(fig)
        written.append("examples.png")
    return written


def _as_image(sample: np.ndarray, lo: float, hi: float) -> np.ndarray:
    a = (np.asarray(sample, dtype=np.float64) - lo) / (hi - lo)
    if a.ndim == 3 and a.shape[-1] in (1, 3):
        return a[..., 0] if a.shape[-1] == 1 else a
    side = int(round(np.sqrt(a.size)))
    if side * side == a.size:
        return a.reshape(side, side)
    return a.reshape(1, -1) if a.ndim != 2 else a


def write_report(root: Path, cfg: Any, rows: Sequence[Mapping[str, Any]],
                 histories: Mapping[str, list[dict[str, Any]]], examples: Mapping[str, Any]) -> None:
    root = Path(root)
    write_text(root / "results.csv", rows_csv(rows))
    if examples:
        buf = io.BytesIO()
        np.savez(buf, **{k: np.asarray(v) for k, v in examples.items() if isinstance(v, np.ndarray)})
        write_bytes(root / "examples.npz", buf.getvalue())
        meta = {k: v for k, v in examples.items() if not isinstance(v, np.ndarray)}
        write_text(root / "examples.json", json.dumps(meta, default=float))
    plots = _plots(root, rows, histories, examples) if getattr(cfg.report, "plots", True) else []
    md = [f"# {cfg.name}", "", cfg.description or "", "",
          "Accuracy (%) on the test set: clean, and robust under each attack at each eps "
          "(worst-case: robust to every attack, sample by sample).", "", markdown_table(rows), ""]
    md += [f"![{p}]({p})" for p in plots]
    write_text(root / "results.md", "\n".join(md) + "\n")


def read_histories(root: str | Path) -> dict[str, list[dict[str, Any]]]:
    """Per-epoch records of ``metrics.jsonl`` by run label, in epoch order; where a resumed
    run logged an epoch twice, the later record wins."""
    path = Path(root) / "metrics.jsonl"
    latest: dict[str, dict[int, dict[str, Any]]] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            latest.setdefault(rec["run"], {})[rec["epoch"]] = rec
    return {label: [recs[e] for e in sorted(recs)] for label, recs in latest.items()}


def rerender(root: str | Path) -> list[str]:
    """Rebuild the tables and plots of a finished run from its saved rows and metrics."""
    from sparring.core.config import load_pipeline
    from sparring.core.errors import ConfigError

    root = Path(root)
    if not (root / "config.toml").exists():
        raise ConfigError(f"{root} is not a sparring run directory (no config.toml)")
    cfg = load_pipeline(root / "config.toml")
    rows: list[dict[str, Any]] = []
    for path in sorted((root / "eval").glob("*.json")):
        rows += json.loads(path.read_text(encoding="utf-8"))
    histories = read_histories(root)
    examples: dict[str, Any] = {}
    if (root / "examples.npz").exists() and (root / "examples.json").exists():
        with np.load(root / "examples.npz", allow_pickle=False) as f:
            examples = {k: f[k] for k in f.files}
        examples.update(json.loads((root / "examples.json").read_text(encoding="utf-8")))
    write_report(root, cfg, rows, histories, examples)
    return ["results.csv", "results.md"]
