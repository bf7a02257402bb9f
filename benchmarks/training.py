"""Epoch time of each adversarial defense relative to standard training, against its pass limit.

An adversarial defense costs more than standard training because its attack phase
runs extra forward+backward passes. Counting one forward+backward pass of the batch as
one unit, a training step of

- standard training costs 1;
- PGD-AT with K steps, MIM-AT with K steps: K + 1; FGSM-AT: 2;
- TRADES with K steps: K + 1 (plus one clean forward);
- min-max Algorithm 1 (kasl thesis) with C classes and K steps: C*K + 1 on a C-times
  larger batch of copies, i.e. C*K + 1 units of the original batch; Algorithm 2 adds
  the clean pass: C*K + 2 (the thesis measured robust/plain epoch times of 8.9x-37x);
- gradient-norm at clean points: about 3 (double back-prop).

This script trains one epoch of each defense on the same model, data and batches (the
Trainer of sparring.defenses, both frameworks), and prints time / time(standard) next
to the limit; the goal is a ratio within 1.1x of the limit (the attack phase should
cost no more than its passes). One warm-up epoch per (framework, defense) absorbs
compilation (jax) and allocator warm-up.

    uv run python benchmarks/training.py --out benchmarks/results/training-cpu.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import environment, mnist_sample, write_json

#: name -> (defense name, params, pass limit as a function of (C, K))
DEFENSES: dict[str, tuple[str, dict[str, Any], Any]] = {
    "standard": ("standard", {}, lambda c: 1),
    "fgsm-at": ("fgsm-at", {"eps": 0.3}, lambda c: 2),
    "pgd-at-7": ("pgd-at", {"eps": 0.3, "steps": 7}, lambda c: 7 + 1),
    "mim-at-10": ("mim-at", {"eps": 0.3, "steps": 10}, lambda c: 10 + 1),
    "trades-10": ("trades", {"eps": 0.3, "steps": 10}, lambda c: 10 + 1),
    "minmax-k3": ("minmax", {"eps": 0.3, "steps": 3, "step_size": 0.15}, lambda c: c * 3 + 1),
    "minmax-k8": ("minmax", {"eps": 0.3, "steps": 8, "step_size": 0.15}, lambda c: c * 8 + 1),
    "minmax-clean-k3": ("minmax-clean", {"eps": 0.3, "steps": 3, "step_size": 0.15}, lambda c: c * 3 + 2),
    "gradient-norm": ("gradient-norm", {"lam": 1.0}, lambda c: 3),
}

MODELS = {
    "dense": ("dense", {"input_shape": (28, 28), "hidden": (256, 256)}),
    "s4d": ("stacked", {"layer": "s4d", "input_shape": (28, 28), "d_model": 32, "state_size": 16}),
}


def epoch_seconds(backend: str, model_name: str, defense_name: str, params: dict[str, Any], x: np.ndarray,
                  y: np.ndarray, batch_size: int, epochs: int) -> list[float]:
    from sparring.core.registry import get_registry
    from sparring.data.dataset import ArrayDataset
    from sparring.defenses import Trainer, TrainSettings
    from sparring.models import build_model

    kind, mparams = MODELS[model_name]
    model = build_model(kind, backend=backend, seed=0, num_classes=10, value_range=(-1.0, 1.0), **mparams)
    spec = get_registry().get_defense(defense_name)
    defense = spec.create(params)
    data = ArrayDataset(x, y, name="mnist-sample", classes=tuple(str(i) for i in range(10)), value_range=(-1.0, 1.0))
    trainer = Trainer(model, defense, TrainSettings(epochs=epochs, batch_size=batch_size, optimizer="adamw",
                                                     lr=1e-3, weight_decay=1e-3), seed=0)
    return [r["train_seconds"] for r in trainer.fit(data)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="training samples per epoch")
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--models", default="dense", help="comma-separated: " + ",".join(MODELS))
    ap.add_argument("--backends", default="torch,jax")
    ap.add_argument("--defenses", default=",".join(DEFENSES))
    ap.add_argument("--epochs", type=int, default=2, help="epochs timed per defense; the first is warm-up")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    x, y, _, _ = mnist_sample()
    x, y = (2.0 * x[: args.n] - 1.0).astype(np.float32), y[: args.n]
    classes = 10
    rows = []
    for model_name in args.models.split(","):
        for backend in args.backends.split(","):
            base = None
            for name in args.defenses.split(","):
                defense, params, limit = DEFENSES[name]
                t0 = time.perf_counter()
                secs = epoch_seconds(backend, model_name, defense, params, x, y, args.batch, args.epochs)
                timed = float(np.median(secs[1:])) if len(secs) > 1 else secs[0]
                if name == "standard":
                    base = timed
                row = {"model": model_name, "backend": backend, "defense": name, "epoch_seconds": timed,
                       "first_epoch_seconds": secs[0], "limit": limit(classes),
                       "ratio": timed / base if base else None, "wall_seconds": time.perf_counter() - t0}
                if row["ratio"] is not None:
                    row["ratio_over_limit"] = row["ratio"] / row["limit"]
                rows.append(row)
                print(f"{model_name:6s} {backend:5s} {name:16s} {timed:8.2f}s/epoch  ratio "
                      f"{row['ratio'] if row['ratio'] else float('nan'):6.2f}  limit {row['limit']:3d}  "
                      f"ratio/limit {row.get('ratio_over_limit', float('nan')):5.2f}", flush=True)

    print("\n| model | backend | defense | s/epoch | time / standard | pass limit | (time/standard) / limit |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['backend']} | {r['defense']} | {r['epoch_seconds']:.2f} | "
              f"{r['ratio']:.2f}x | {r['limit']} | {r.get('ratio_over_limit', float('nan')):.2f} |")
    if args.out:
        write_json(args.out, {"settings": vars(args) | {"out": str(args.out)}, "environment": environment(),
                              "rows": rows})


if __name__ == "__main__":
    main()
