"""Training-step time of the S4 and S4D StackedModels on torch and jax.

One forward and backward pass (cross-entropy of the logits, gradients for every
parameter; no optimiser step) of the Kasl-thesis MNIST presets ``s4-mnist`` (DPLR S4,
N = 64 complex states) and ``s4d-mnist`` (S4D, N/2 = 32 modes), d_model 128, 784 steps
of one pixel, on a random batch. torch runs eagerly; jax runs the whole step under
``jax.jit``. Printed as a table of median times and ratios, saved as JSON.

Optional: ``--reference PATH`` times the state-spaces S4 (``FFTConv`` of the authors'
standalone ``models/s4/s4.py``, mode ``dplr``, d_state 64, naive Cauchy kernel on CPU)
inside the same torch StackedModel shell, in place of our S4 layer. The file is read from
the given path and never kept in this repository; it needs ``einops`` (e.g. ``uv run
--with einops python benchmarks/models.py --reference /path/to/s4.py``).

    uv run python benchmarks/models.py --batch 32 --out benchmarks/results/models-cpu.json
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from _common import environment, timed, write_json

PRESETS = {"s4": "s4-mnist", "s4d": "s4d-mnist"}


def batch(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, (size, 784, 1)).astype(np.float32)
    return x, rng.integers(0, 10, size)


def torch_step(module: Any, x: np.ndarray, y: np.ndarray, device: str) -> Callable[[], float]:
    import torch

    module = module.to(device).train()
    xt = torch.as_tensor(x, device=device)
    yt = torch.as_tensor(y, dtype=torch.long, device=device)

    def step() -> float:
        module.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(module(xt), yt)
        loss.backward()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return float(loss.detach())

    return step


def jax_step(module: Any, x: np.ndarray, y: np.ndarray) -> Callable[[], float]:
    import jax
    from flax import nnx

    graphdef, params, rest = nnx.split(module, nnx.Param, ...)
    xj, yj = jax.numpy.asarray(x), jax.numpy.asarray(y)

    def loss_fn(p: Any) -> jax.Array:
        logits = nnx.merge(graphdef, p, rest)(xj)
        logp = jax.nn.log_softmax(logits, axis=-1)  # (B, C)
        return -jax.numpy.take_along_axis(logp, yj[:, None], axis=-1).mean()

    grad_fn = jax.jit(jax.value_and_grad(loss_fn))

    def step() -> float:
        loss, grads = grad_fn(params)
        jax.block_until_ready(grads)
        return float(loss)

    return step


def load_reference(path: Path) -> Any:
    """The ``FFTConv`` class of the state-spaces standalone S4 file at ``path``."""
    if importlib.util.find_spec("pytorch_lightning") is None:  # the file only uses rank_zero_only
        pl = types.ModuleType("pytorch_lightning")
        utilities = types.ModuleType("pytorch_lightning.utilities")
        utilities.rank_zero_only = lambda fn: fn  # type: ignore[attr-defined]
        pl.utilities = utilities  # type: ignore[attr-defined]
        sys.modules.update({"pytorch_lightning": pl, "pytorch_lightning.utilities": utilities})
    spec = importlib.util.spec_from_file_location("state_spaces_s4_reference", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.FFTConv


def reference_module(path: Path, seed: int) -> Any:
    """Our torch s4-mnist StackedModel with its S4 layer swapped for the state-spaces one."""
    import torch

    from sparring.models import build_model

    fftconv = load_reference(path)

    class Reference(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = fftconv(128, l_max=784, activation=None, transposed=False, mode="dplr", d_state=64)

        def forward(self, u: torch.Tensor) -> torch.Tensor:
            return self.conv(u)[0]  # (B, L, H); the second output is the (absent) state

    torch.manual_seed(seed)
    module = build_model("s4-mnist", backend="torch", seed=seed).module
    module.blocks[0].seq = Reference()
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--layers", default="s4,s4d")
    parser.add_argument("--backends", default="torch,jax")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (jax uses its default device)")
    parser.add_argument("--reference", type=Path, default=None, help="state-spaces models/s4/s4.py (optional)")
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the results")
    args = parser.parse_args()

    from sparring.models import build_model

    x, y = batch(args.batch)
    layers = args.layers.split(",")
    backends = args.backends.split(",")
    results: dict[str, dict[str, dict[str, float]]] = {}
    for layer in layers:
        for be in backends:
            model = build_model(PRESETS[layer], backend=be, device=args.device if be == "torch" else "cpu")
            step = torch_step(model.module, x, y, args.device) if be == "torch" else jax_step(model.module, x, y)
            first, median, _ = timed(step, repeats=args.repeats)
            results.setdefault(layer, {})[be] = {"first_s": first, "median_s": median}
            print(f"{layer:>4} {be:>5}: first call {first:.3f} s, median {median * 1e3:.1f} ms")
    if args.reference is not None:
        step = torch_step(reference_module(args.reference, 0), x, y, args.device)
        first, median, _ = timed(step, repeats=args.repeats)
        results["state-spaces s4"] = {"torch": {"first_s": first, "median_s": median}}
        print(f"state-spaces s4 torch: first call {first:.3f} s, median {median * 1e3:.1f} ms")

    print(f"\nforward + backward, batch {args.batch} x 784 steps, d_model 128, N 64 ({args.device})\n")
    print("| model | " + " | ".join(f"{b} ms" for b in backends) + " | jax / torch | vs our S4 (same framework) |")
    print("|" + "---|" * (len(backends) + 3))
    ours = results.get("s4", {})
    for name, row in results.items():
        times = [f"{row[b]['median_s'] * 1e3:.1f}" if b in row else "-" for b in backends]
        ratio = (
            f"{row['jax']['median_s'] / row['torch']['median_s']:.2f}" if {"jax", "torch"} <= row.keys() else "-"
        )
        vs = " / ".join(
            f"{b} {row[b]['median_s'] / ours[b]['median_s']:.2f}x" for b in backends if b in row and b in ours
        )
        print(f"| {name} | " + " | ".join(times) + f" | {ratio} | {vs} |")
    if args.out is not None:
        write_json(
            args.out,
            {"batch": args.batch, "device": args.device, "results": results, "environment": environment()},
        )
        print(f"saved {args.out}")


if __name__ == "__main__":
    main()
