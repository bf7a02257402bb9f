"""Training checkpoints: weights, optimiser state and trainer state, written atomically.

A checkpoint of epoch e is ``epoch-e.safetensors`` (the model's own ``save``),
``epoch-e.optim.npz`` (numpy arrays only, read back without pickle) and, written last,
``state.json`` naming them. An interrupted write leaves the previous ``state.json``
pointing at the previous, complete files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sparring.core.atomic import write_bytes, write_text
from sparring.core.errors import DataError

__all__ = ["save_npz", "load_npz", "CheckpointDir"]


def save_npz(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> None:
    import io

    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    write_bytes(path, buf.getvalue())


def load_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError) as err:
        raise DataError(f"checkpoint file {os.fspath(path)!r} is unreadable ({err})") from err


class CheckpointDir:
    """The checkpoints of one training run in ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    def exists(self) -> bool:
        return self.state_path.is_file()

    def save(self, model: Any, optimizer: Any, state: dict[str, Any], *, best: bool = False) -> None:
        epoch = int(state["epoch"])
        weights, optim = f"epoch-{epoch}.safetensors", f"epoch-{epoch}.optim.npz"
        self.root.mkdir(parents=True, exist_ok=True)
        model.save(str(self.root / weights))
        save_npz(self.root / optim, optimizer.state_numpy())
        if best:
            model.save(str(self.root / "best.safetensors"))
        previous = self.read_state() if self.exists() else None
        write_text(self.state_path, json.dumps({**state, "weights": weights, "optimizer": optim}, indent=1))
        if previous and previous.get("weights") != weights:
            for key in ("weights", "optimizer"):
                old = self.root / previous[key]
                if old.exists():
                    old.unlink()

    def read_state(self) -> dict[str, Any]:
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise DataError(f"{self.state_path} is unreadable ({err}); delete the run's checkpoints to restart") from err

    def restore(self, model: Any, optimizer: Any) -> dict[str, Any]:
        state = self.read_state()
        model.load(str(self.root / state["weights"]))
        optimizer.load_state_numpy(load_npz(self.root / state["optimizer"]))
        return state
