"""The same attacks on a GPU give the CPU's answers (skipped where no GPU is present).

Run on a lent GPU machine with ``uv run pytest -m gpu``; JAX needs a CUDA build of jaxlib
there (``jax[cuda12]``), otherwise its half is skipped.
"""

from __future__ import annotations

import numpy as np
import pytest

from sparring.attacks import deepfool, fgsm, mim, pgd
from sparring.models import build_model

pytestmark = pytest.mark.gpu

SIZES = dict(input_shape=(28, 28), hidden=(64, 64), num_classes=10)
ATTACKS = {
    "fgsm": lambda m, x, y: fgsm(m, x, y, eps=0.1),
    "pgd": lambda m, x, y: pgd(m, x, y, eps=0.1, steps=10, rel_step_size=0.25),
    "mim": lambda m, x, y: mim(m, x, y, eps=0.1, steps=10),
    "deepfool": lambda m, x, y: deepfool(m, x, y, steps=20),
}


def _gpu_device(backend: str) -> str:
    if backend == "torch":
        torch = pytest.importorskip("torch")
        if not torch.cuda.is_available():
            pytest.skip("no CUDA device for torch")
        return "cuda"
    jax = pytest.importorskip("jax")
    try:
        jax.devices("gpu")
    except RuntimeError:
        pytest.skip("no GPU for jax (needs a CUDA build of jaxlib)")
    return "gpu"


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_gpu_matches_cpu(tmp_path, backend: str, attack: str) -> None:
    device = _gpu_device(backend)
    cpu = build_model("dense", backend=backend, device="cpu", seed=3, **SIZES)
    gpu = build_model("dense", backend=backend, device=device, seed=4, **SIZES)
    cpu.save(tmp_path / "w.safetensors")
    gpu.load(tmp_path / "w.safetensors")
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(64, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, size=64)
    a, b = ATTACKS[attack](cpu, x, y), ATTACKS[attack](gpu, x, y)
    if backend == "torch":
        assert b.x_adv.device.type == "cuda"
    else:
        assert {d.platform for d in b.x_adv.devices()} == {"gpu"}
    # GPU matmuls (TF32 off by default in torch, on for some jax ops) may flip a few sign ties
    differ = np.abs(cpu.backend.to_numpy(a.x_adv) - gpu.backend.to_numpy(b.x_adv)) > 1e-4
    assert differ.mean() < 0.01, f"{differ.sum()} of {differ.size} entries differ between CPU and GPU"
    agree = cpu.backend.to_numpy(a.success) == gpu.backend.to_numpy(b.success)
    assert agree.mean() >= 0.95
