"""Shared pieces of the benchmarks: a trained MNIST model on both backends, timing."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CACHE = Path(__file__).resolve().parent / ".cache"


def mnist_sample() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The embedded real MNIST sample (train, test) as float32 in [0, 1]."""
    from sparring.data import load_dataset

    train = load_dataset("mnist-sample", split="train")
    test = load_dataset("mnist-sample", split="test")
    return train[:][0], train[:][1], test[:][0], test[:][1]


def trained_dense(epochs: int = 8, seed: int = 0) -> Path:
    """Train dense-mnist (784-256-256-10) on the embedded sample with torch; cache the weights."""
    path = CACHE / f"dense-mnist-e{epochs}-s{seed}.safetensors"
    if path.exists():
        return path
    import torch

    from sparring.models import build_model

    x, y, _, _ = mnist_sample()
    model = build_model("dense-mnist", backend="torch", seed=seed)
    net = model.module
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y, dtype=torch.long)
    net.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=g).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
    net.eval()
    CACHE.mkdir(exist_ok=True)
    model.save(path)
    return path


@dataclass(frozen=True)
class Timed:
    """A result that brings its own time (a call timed in another process, without the
    cost of sending the result back): :func:`timed_interleaved` takes ``seconds`` as the
    call's time and ``value`` as its result."""

    seconds: float
    value: Any


def timed(fn: Callable[[], Any], repeats: int = 3) -> tuple[float, float, Any]:
    """(first-call seconds, median seconds of ``repeats`` more calls, last result)."""
    return timed_interleaved({"fn": fn}, repeats, slow_s=math.inf)["fn"]


def timed_interleaved(
    fns: dict[str, Callable[[], Any]], repeats: int = 3, *, slow_s: float = 30.0
) -> dict[str, tuple[float, float, Any]]:
    """:func:`timed` for several functions with their repeats taken in turn (a, b, c, a, b,
    c, ...): a slow spell of a shared machine then hits every library alike instead of one.
    A function whose first call took over ``slow_s`` seconds is not repeated: that call is
    its time (as for ``repeats=1`` of a very slow peer)."""
    first: dict[str, float] = {}
    out: dict[str, Any] = {}
    times: dict[str, list[float]] = {name: [] for name in fns}

    def call(name: str) -> float:
        t0 = time.perf_counter()
        result = fns[name]()
        seconds = time.perf_counter() - t0
        if isinstance(result, Timed):
            seconds, result = result.seconds, result.value
        out[name] = result
        return seconds

    for name in fns:
        first[name] = call(name)
    again = [name for name in fns if first[name] <= slow_s]
    for _ in range(repeats):
        for name in again:
            times[name].append(call(name))
    return {name: (first[name], statistics.median(times[name]) if times[name] else first[name], out[name])
            for name in fns}


def environment() -> dict[str, Any]:
    import importlib.metadata as md

    versions = {}
    for name in ("torch", "jax", "flax", "torchattacks", "foolbox", "sparring-attacks"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return {
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions,
    }


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(path)
