"""sparring-data's registrations, load_dataset, and the framework-free import."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from sparring.core import DatasetSpec, PluginInfo, Registry, get_registry, hookimpl
from sparring.core.errors import ConfigError, PluginLoadError, UnknownNameError
from sparring.data import ArrayDataset, load_dataset, plugin

from data_writers import write_mnist_tree

NAMES = {"mnist", "fashion-mnist", "cifar10", "gtsrb", "speech-commands", "urbansound8k", "mnist-sample"}


@pytest.mark.parametrize("spec", plugin.register_datasets(), ids=lambda s: s.name)
def test_spec_params_are_the_factory_defaults(spec) -> None:
    fn = spec.load()
    defaults = {name: p.default for name, p in inspect.signature(fn).parameters.items()
                if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert dict(spec.params) == defaults
    assert spec.backends == ()  # numpy datasets serve any backend


def test_entry_point_registers_every_dataset() -> None:
    registry = get_registry()
    assert NAMES <= set(registry.names("dataset"))
    for name in NAMES:
        assert registry.provider("dataset", name).distribution == "sparring-data"
    info = next(p for p in registry.plugins() if p.distribution == "sparring-data")
    assert info.error is None and set(info.registered["dataset"]) == NAMES


def test_load_dataset_by_name(tmp_path) -> None:
    ds = load_dataset("mnist-sample", split="test", value_range=[-1, 1])
    assert isinstance(ds, ArrayDataset) and len(ds) == 1000 and ds.info.value_range == (-1.0, 1.0)
    written = write_mnist_tree(tmp_path / "mnist", gz=True, n_train=6, n_test=3)
    assert load_dataset("mnist", root=tmp_path, split="test").labels.tolist() == written["test"][1].tolist()


def test_unknown_dataset_suggests_close_names() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown dataset 'fashion_mnist'\. Did you mean 'fashion-mnist'"):
        load_dataset("fashion_mnist")


def test_unknown_parameter_names_the_accepted_ones() -> None:
    expected = r"no parameter 'spilt' \(did you mean 'split'\?\); its parameters: split, value_range"
    with pytest.raises(ConfigError, match=expected):
        load_dataset("mnist-sample", spilt="test")
    with pytest.raises(ConfigError, match="no parameter 'root'"):
        load_dataset("mnist-sample", root="/tmp")


def test_factory_returning_no_dataset_is_reported(monkeypatch) -> None:
    class Bad:
        @hookimpl
        def register_datasets(self) -> list[DatasetSpec]:
            return [DatasetSpec(name="bad", summary="returns a list", factory="builtins:list")]

    registry = Registry(entry_points=[], plugins=[(Bad(), PluginInfo("bad", "bad-dist", "0", "tests"))])
    monkeypatch.setattr("sparring.data.load.get_registry", lambda: registry)
    with pytest.raises(PluginLoadError, match="returned list, not a Dataset"):
        load_dataset("bad")


def test_importing_and_loading_imports_no_framework() -> None:
    code = (
        "import sys\n"
        "import sparring.data\n"
        "from sparring.core import get_registry\n"
        "get_registry().plugins()\n"
        "ds = sparring.data.load_dataset('mnist-sample')\n"
        "next(ds.batches(32, seed=0))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'jax', 'jaxlib', 'flax', 'optax')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
