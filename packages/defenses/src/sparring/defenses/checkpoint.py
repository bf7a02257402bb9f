"""Training checkpoints: weights, optimiser state and trainer state, written atomically.

A checkpoint of epoch e is ``epoch-e.safetensors`` (the model's own ``save``),
``epoch-e.optim.npz`` (numpy arrays only, read back without pickle), for a defense with
state of its own (``state_numpy``: the adversary critic) ``epoch-e.defense.npz``, and,
written last, ``state.json`` naming them. An interrupted write leaves the previous ``state.json``
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

    def save(self, model: Any, optimizer: Any, state: dict[str, Any], *, best: bool = False,
             defense_state: Mapping[str, np.ndarray] | None = None) -> None:
        """Weights, optimiser state, the defense's own state (e.g. the adversary critic's
        network) and ``state`` (JSON) of the epoch; ``state.json`` is written last."""
        epoch = int(state["epoch"])
        files = {"weights": f"epoch-{epoch}.safetensors", "optimizer": f"epoch-{epoch}.optim.npz"}
        self.root.mkdir(parents=True, exist_ok=True)
        model.save(str(self.root / files["weights"]))
        save_npz(self.root / files["optimizer"], optimizer.state_numpy())
        if defense_state:
            files["defense"] = f"epoch-{epoch}.defense.npz"
            save_npz(self.root / files["defense"], defense_state)
        if best:
            model.save(str(self.root / "best.safetensors"))
        previous = self.read_state() if self.exists() else None
        write_text(self.state_path, json.dumps({**state, **files}, indent=1))
        if previous and previous.get("weights") != files["weights"]:
            for key in ("weights", "optimizer", "defense"):
                old = self.root / previous[key] if previous.get(key) else None
                if old is not None and old.exists():
                    old.unlink()

    def read_state(self) -> dict[str, Any]:
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise DataError(f"{self.state_path} is unreadable ({err}); delete the run's checkpoints to restart") from err

    def restore(self, model: Any, optimizer: Any, defense: Any = None) -> dict[str, Any]:
        """Load the last epoch's weights and optimiser state (and, for a ``defense`` with
        ``load_state_numpy``, its state); returns the JSON state."""
        state = self.read_state()
        model.load(str(self.root / state["weights"]))
        optimizer.load_state_numpy(load_npz(self.root / state["optimizer"]))
        if state.get("defense") and hasattr(defense, "load_state_numpy"):
            defense.load_state_numpy(model, load_npz(self.root / state["defense"]))
        return state
