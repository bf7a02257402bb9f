"""Image classifiers (matyasko-mlp, cnn / lenet-mnist, resnet18): preset parameter counts,
one parameter layout on both frameworks, torch/jax parity of logits, input gradients and
BatchNorm running statistics, weights files both ways, channels-last inputs, errors."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

from sparring.core import Model, get_registry
from sparring.core.errors import CheckpointMismatchError, ConfigError, InvalidInputError
from sparring.models import build_model
from sparring.models.cnn import cnn
from sparring.models.resnet import resnet18

# Trainable parameters of the presets (identical on torch and jax).
# matyasko-mlp: 784*1000+1000 + 2*(1000*1000+1000) + 1000*10+10          (thesis 3.5.1)
# cnn-mnist:    (32*25+32) + (64*32*25+64) + (7*7*64*128+128) + (128*10+10)  ('same' convs)
# lenet-mnist:  (32*25+32) + (64*32*25+64) + (4*4*64*512+512) + (512*10+10)  ('valid' convs)
# resnet18:     11,173,962 with 10 classes (the usual CIFAR ResNet-18 count), +43-10 classes of fc
PRESET_COUNTS = {
    "matyasko-mlp": 2_797_010,
    "cnn-mnist": 454_922,
    "lenet-mnist": 582_026,
    "resnet18-cifar": 11_173_962,
    "resnet18-gtsrb": 11_190_891,
}
# BatchNorm buffers in the weights file: running_mean + running_var over 4,800 channels
# (64 + 4*64 + 5*128 + 5*256 + 5*512) and 20 num_batches_tracked scalars
RESNET18_BUFFERS = 2 * 4_800 + 20

TINY_RESNET = dict(input_shape=(8, 8, 3), width=4, num_classes=5)
# (registry name, overrides, batch shape): every architecture at a tiny size
ARCHS = {
    "matyasko-mlp": ("matyasko-mlp", dict(hidden=(6, 5, 4)), (3, 28, 28)),
    "lenet": ("lenet-mnist", dict(input_shape=(12, 12), channels=(2, 3), kernel_size=3, hidden=(4,)), (3, 12, 12)),
    "cnn": (
        "cnn", dict(input_shape=(12, 12, 2), channels=(3, 4), kernel_size=3, hidden=(5,), num_classes=3), (3, 12, 12, 2)
    ),
    "resnet18": ("resnet18", TINY_RESNET, (4, 8, 8, 3)),
}


def _both() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("jax")


def _logits(m: Model, x: np.ndarray) -> np.ndarray:
    return m.backend.to_numpy(m(m.backend.asarray(x)))


def _input_grad(m: Model, x: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    be = m.backend
    w_ = be.asarray(w)
    with warnings.catch_warnings():  # jax: train-mode BatchNorm under jax.grad keeps its running stats
        warnings.filterwarnings("ignore", message="BatchNorm running statistics not updated")
        value, grad = be.value_and_grad(lambda z: be.xp.sum(m(z) * w_), be.asarray(x))
    return float(be.to_numpy(value)), be.to_numpy(grad)


def _n_trainable(m: Model) -> int:
    if m.backend.name == "torch":
        return sum(p.numel() for p in m.module.parameters() if p.requires_grad)
    from flax import nnx

    return sum(v[...].size for _, v in nnx.to_flat_state(nnx.state(m.module, nnx.Param)))


def _pair(tmp_path, name: str, overrides: dict, dtype: str = "float32") -> tuple[Model, Model]:
    """A torch model and a jax model holding the same weights (through a weights file)."""
    a = build_model(name, backend="torch", seed=1, dtype=dtype, **overrides)
    b = build_model(name, backend="jax", seed=2, dtype=dtype, **overrides)
    a.save(tmp_path / "w.safetensors")
    b.load(tmp_path / "w.safetensors")
    return a, b


def _randomise_batchnorm(m: Model, seed: int) -> None:
    """Non-trivial BatchNorm weights and running statistics, so eval mode tests something."""
    rng = np.random.default_rng(seed)
    params = m.parameters_numpy()
    for k, v in params.items():
        if k.endswith(("running_mean", "bn1.bias", "bn2.bias")):
            params[k] = rng.normal(0.0, 0.2, v.shape).astype(v.dtype)
        elif k.endswith(("running_var", "bn1.weight", "bn2.weight")):
            params[k] = rng.uniform(0.5, 1.5, v.shape).astype(v.dtype)
    m.load_parameters(params)


# -- layout and counts ----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "count"), sorted(PRESET_COUNTS.items()))
def test_presets_have_one_layout_and_the_stated_parameter_counts(name: str, count: int) -> None:
    _both()
    models = [build_model(name, backend=b) for b in ("torch", "jax")]
    shapes = [{k: v.shape for k, v in m.parameters_numpy().items()} for m in models]
    assert shapes[0] == shapes[1]
    for m in models:
        assert _n_trainable(m) == count, m.backend.name
        buffers = RESNET18_BUFFERS if name.startswith("resnet18") else 0
        assert sum(v.size for v in m.parameters_numpy().values()) == count + buffers
        assert str(m.dtype) in ("float32", "torch.float32")
    m = models[0]
    if name.startswith("resnet18"):
        assert m.input_shape == (32, 32, 3) and m.num_classes == (43 if name.endswith("gtsrb") else 10)
    else:
        assert m.input_shape == (28, 28) and m.num_classes == 10 and m.value_range == (0.0, 1.0)


def test_tiny_layouts_use_torch_names_and_shapes(backend_name: str) -> None:
    name, over, _ = ARCHS["cnn"]
    assert {k: v.shape for k, v in build_model(name, backend=backend_name, **over).parameters_numpy().items()} == {
        "convs.0.weight": (3, 2, 3, 3), "convs.0.bias": (3,),
        "convs.1.weight": (4, 3, 3, 3), "convs.1.bias": (4,),
        "layers.0.weight": (5, 4 * 3 * 3), "layers.0.bias": (5,),
        "head.weight": (3, 5), "head.bias": (3,),
    }
    resnet = build_model("resnet18", backend=backend_name, **TINY_RESNET)
    shapes = {k: v.shape for k, v in resnet.parameters_numpy().items()}
    bn = {"weight": (4,), "bias": (4,), "running_mean": (4,), "running_var": (4,), "num_batches_tracked": ()}
    assert shapes["conv1.weight"] == (4, 3, 3, 3) and "conv1.bias" not in shapes
    assert {k[4:]: v for k, v in shapes.items() if k.startswith("bn1.")} == bn
    assert shapes["layer1.0.conv2.weight"] == (4, 4, 3, 3) and "layer1.0.downsample.0.weight" not in shapes
    assert shapes["layer2.0.conv1.weight"] == (8, 4, 3, 3)
    assert shapes["layer2.0.downsample.0.weight"] == (8, 4, 1, 1)
    assert shapes["layer4.1.bn2.running_var"] == (32,)
    assert shapes["layer4.0.downsample.1.num_batches_tracked"] == ()
    assert shapes["fc.weight"] == (5, 32) and "layer5.0.conv1.weight" not in shapes
    assert len(shapes) == 122


def test_registry_entries_match_the_factories() -> None:
    registry = get_registry()
    for factory, generic in ((cnn, "cnn"), (resnet18, "resnet18")):
        defaults = {
            k: p.default for k, p in inspect.signature(factory).parameters.items()
            if k not in ("backend", "device", "seed")
        }
        assert registry.get_model(generic).params == defaults
    assert registry.get_model("resnet18-cifar").params == registry.get_model("resnet18").params
    assert registry.get_model("resnet18-gtsrb").params["num_classes"] == 43
    assert registry.get_model("lenet-mnist").params == {
        **registry.get_model("cnn").params, "input_shape": (28, 28), "padding": "valid", "hidden": (512,)
    }
    mlp = registry.get_model("matyasko-mlp")
    assert mlp.factory == registry.get_model("dense").factory
    assert set(mlp.params) == set(registry.get_model("dense").params)
    assert mlp.params["hidden"] == (1000, 1000, 1000)
    for name in ("matyasko-mlp", "cnn", "cnn-mnist", "lenet-mnist", "resnet18", "resnet18-cifar", "resnet18-gtsrb"):
        assert registry.get_model(name).backends == ("torch", "jax")


def test_build_by_name_with_overrides(backend_name: str) -> None:
    m = build_model("resnet18-gtsrb", backend=backend_name, width=4, input_shape=(8, 8, 3))
    assert m.num_classes == 43 and m.parameters_numpy()["fc.weight"].shape == (43, 32)
    assert _logits(m.eval(), np.zeros((4, 8, 8, 3), np.float32)).shape == (4, 43)
    m = build_model("lenet-mnist", backend=backend_name, hidden=(7,), num_classes=4)
    params = m.parameters_numpy()  # 28 -> 24 -> 12 -> 8 -> 4: 4 * 4 * 64 features
    assert params["layers.0.weight"].shape == (7, 1024) and params["head.weight"].shape == (4, 7)
    m = build_model("matyasko-mlp", backend=backend_name, hidden=(6, 5, 4))
    assert m.parameters_numpy()["layers.2.weight"].shape == (4, 5) and "layers.3.weight" not in m.parameters_numpy()


def test_unknown_override_and_bad_configurations_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="did you mean 'channels'"):
        build_model("cnn-mnist", backend="torch", chanels=(3,))
    with pytest.raises(ConfigError, match="did you mean 'width'"):
        build_model("resnet18-cifar", backend="torch", widht=8)
    with pytest.raises(ConfigError, match="padding"):
        build_model("cnn", backend="torch", padding="full")
    with pytest.raises(ConfigError, match="too small"):
        build_model("lenet-mnist", backend="torch", input_shape=(8, 8))
    with pytest.raises(ConfigError, match=r"channels-last as \(32, 32, 3\)"):
        build_model("resnet18", backend="torch", input_shape=(3, 32, 32))
    with pytest.raises(ConfigError, match="dtype"):
        build_model("resnet18", backend="torch", dtype="float16")
    with pytest.raises(ConfigError, match="width"):
        build_model("resnet18", backend="torch", width=0)


def test_same_seed_same_weights(backend_name: str) -> None:
    for name, over, _ in ARCHS.values():
        a = build_model(name, backend=backend_name, seed=3, **over).parameters_numpy()
        b = build_model(name, backend=backend_name, seed=3, **over).parameters_numpy()
        c = build_model(name, backend=backend_name, seed=4, **over).parameters_numpy()
        assert all(np.array_equal(a[k], b[k]) for k in a), name
        head = "fc.weight" if "fc.weight" in a else "head.weight"
        assert not np.array_equal(a[head], c[head]), name


# -- torch / jax parity -----------------------------------------------------------------------


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_same_weights_give_the_same_logits_and_input_gradients(tmp_path, arch: str) -> None:
    _both()
    name, over, x_shape = ARCHS[arch]
    a, b = _pair(tmp_path, name, over)
    if arch == "resnet18":
        _randomise_batchnorm(a, 0)
        b.load_parameters(a.parameters_numpy())
    rng = np.random.default_rng(0)
    x = rng.uniform(size=x_shape).astype(np.float32)
    w = rng.normal(size=(x_shape[0], a.num_classes)).astype(np.float32)
    for training in (False, True):  # eval first: torch's train-mode gradient call moves its running stats
        a.train(training)
        b.train(training)
        np.testing.assert_allclose(_logits(b, x), _logits(a, x), rtol=1e-4, atol=1e-5)
        va, ga = _input_grad(a, x, w)
        vb, gb = _input_grad(b, x, w)
        np.testing.assert_allclose(vb, va, rtol=1e-4, atol=1e-5)
        assert np.abs(ga).max() > 1e-3, "input gradient vanished; the comparison would be vacuous"
        np.testing.assert_allclose(gb, ga, rtol=1e-4, atol=1e-5 * np.abs(ga).max())


def test_float64_parity(tmp_path) -> None:
    """Logits and input gradients in float64 (the cnn has no mode-dependent layer; BatchNorm
    in float64: test_jax_batchnorm_is_torch_batchnorm)."""
    _both()
    import jax

    name, over, x_shape = ARCHS["cnn"]
    rng = np.random.default_rng(0)
    x, w = rng.uniform(size=x_shape), rng.normal(size=(x_shape[0], over["num_classes"]))
    with jax.enable_x64(True):
        a, b = _pair(tmp_path, name, over, dtype="float64")
        assert str(b.dtype) == "float64" and str(a.dtype) == "torch.float64"
        lb = _logits(b, x)
        assert lb.dtype == np.float64
        np.testing.assert_allclose(lb, _logits(a, x), rtol=1e-10, atol=1e-12)
        (va, ga), (vb, gb) = _input_grad(a, x, w), _input_grad(b, x, w)
        assert gb.dtype == np.float64
        np.testing.assert_allclose(vb, va, rtol=1e-10)
        np.testing.assert_allclose(gb, ga, rtol=1e-9, atol=1e-12)


def test_batchnorm_running_statistics_agree_after_train_forwards(tmp_path) -> None:
    _both()
    a, b = _pair(tmp_path, "resnet18", TINY_RESNET)
    _randomise_batchnorm(a, 1)
    b.load_parameters(a.parameters_numpy())
    before = a.parameters_numpy()
    rng = np.random.default_rng(2)
    a.train()
    b.train()
    for _ in range(2):
        x = rng.normal(1.0, 2.0, size=(4, 8, 8, 3)).astype(np.float32)
        np.testing.assert_allclose(_logits(b, x), _logits(a, x), rtol=1e-4, atol=1e-5)
    pa, pb = a.parameters_numpy(), b.parameters_numpy()
    for k in pa:
        if k.endswith("num_batches_tracked"):
            assert int(pa[k]) == int(pb[k]) == 2, k
        else:
            np.testing.assert_allclose(pb[k], pa[k], rtol=1e-4, atol=1e-6, err_msg=k)
    assert not np.allclose(pa["bn1.running_var"], before["bn1.running_var"])
    assert np.array_equal(pa["bn1.weight"], before["bn1.weight"])  # forwards change no Param
    a.eval()
    b.eval()
    x = rng.uniform(size=(4, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(_logits(b, x), _logits(a, x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_jax_batchnorm_is_torch_batchnorm(dtype: str) -> None:
    """Momentum 0.1 (torch) == 0.9 (nnx), unbiased running variance, eps 1e-5, both modes."""
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    from sparring.models.jax.resnet import BatchNorm2d

    tol = dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    rng = np.random.default_rng(3)
    x = rng.normal(0.5, 3.0, size=(2, 3, 5, 4)).astype(dtype)  # (B, H, W, C)
    w, bias = rng.uniform(0.5, 2.0, 4).astype(dtype), rng.normal(size=4).astype(dtype)
    ref = torch.nn.BatchNorm2d(4, dtype=getattr(torch, dtype))
    with torch.no_grad():
        ref.weight.copy_(torch.as_tensor(w))
        ref.bias.copy_(torch.as_tensor(bias))
    xt = torch.as_tensor(x).permute(0, 3, 1, 2)
    with jax.enable_x64(dtype == "float64"):
        ours = BatchNorm2d(4, dtype=dtype)
        ours.weight[...], ours.bias[...] = jnp.asarray(w), jnp.asarray(bias)
        for _ in range(3):
            out = ref(xt).permute(0, 2, 3, 1).detach().numpy()
            y = np.asarray(ours(jnp.asarray(x)))
            assert y.dtype == np.dtype(dtype)
            np.testing.assert_allclose(y, out, **tol)
        np.testing.assert_allclose(np.asarray(ours.running_mean[...]), ref.running_mean.numpy(), **tol)
        np.testing.assert_allclose(np.asarray(ours.running_var[...]), ref.running_var.numpy(), **tol)
        assert int(ours.num_batches_tracked[...]) == int(ref.num_batches_tracked) == 3
        ref.eval()
        ours.eval()
        out = ref(xt).permute(0, 2, 3, 1).detach().numpy()
        np.testing.assert_allclose(np.asarray(ours(jnp.asarray(x))), out, **tol)
        assert int(ours.num_batches_tracked[...]) == 3


def test_jax_batchnorm_updates_under_nnx_transforms_and_warns_under_plain_jax() -> None:
    pytest.importorskip("jax")
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from sparring.models.jax.resnet import BatchNorm2d

    x = jnp.asarray(np.random.default_rng(4).normal(2.0, 1.0, size=(4, 2, 2, 3)).astype(np.float32))
    eager = BatchNorm2d(3)
    eager(x)
    # the trainer's pattern: the module is an argument of nnx.jit / nnx.value_and_grad
    bn = BatchNorm2d(3)
    loss, grads = nnx.jit(nnx.value_and_grad(lambda m, z: jnp.sum(m(z) ** 3)))(bn, x)
    assert np.abs(np.asarray(grads["weight"][...])).max() > 0
    np.testing.assert_allclose(np.asarray(bn.running_mean[...]), np.asarray(eager.running_mean[...]), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(bn.running_var[...]), np.asarray(eager.running_var[...]), rtol=1e-6)
    assert int(bn.num_batches_tracked[...]) == 1
    # a plain jax transformation closing over the module cannot carry its state out
    with pytest.warns(RuntimeWarning, match="not updated"):
        jax.grad(lambda z: jnp.sum(bn(z) ** 3))(x)
    assert int(bn.num_batches_tracked[...]) == 1
    np.testing.assert_allclose(np.asarray(bn.running_mean[...]), np.asarray(eager.running_mean[...]), rtol=1e-6)


def test_train_mode_needs_more_than_one_value_per_channel(backend_name: str) -> None:
    m = build_model("resnet18", backend=backend_name, **{**TINY_RESNET, "input_shape": (1, 1, 3)})
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        _logits(m.train(), np.zeros((1, 1, 1, 3), np.float32))


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_weights_file_round_trip_torch_jax_torch(tmp_path, arch: str) -> None:
    _both()
    name, over, x_shape = ARCHS[arch]
    a, b = _pair(tmp_path, name, over)  # torch -> jax
    b.save(tmp_path / "back.safetensors")
    c = build_model(name, backend="torch", seed=5, **over)
    c.load(tmp_path / "back.safetensors")  # jax -> torch
    pa, pc = a.parameters_numpy(), c.parameters_numpy()
    assert all(np.array_equal(pa[k], pc[k]) and pa[k].dtype == pc[k].dtype for k in pa)
    x = np.random.default_rng(1).uniform(size=x_shape).astype(np.float32)
    for m in (a, b, c):
        m.eval()
    np.testing.assert_allclose(_logits(b, x), _logits(a, x), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(_logits(c, x), _logits(a, x))


def test_wrong_shape_file_lists_every_mismatch(tmp_path, backend_name: str) -> None:
    build_model("resnet18", backend=backend_name, **{**TINY_RESNET, "num_classes": 7}).save(tmp_path / "r.safetensors")
    m = build_model("resnet18", backend=backend_name, **TINY_RESNET)
    before = m.parameters_numpy()
    with pytest.raises(CheckpointMismatchError) as exc:
        m.load(tmp_path / "r.safetensors")
    text = str(exc.value)
    assert "fc.weight: file has shape (7, 32), model expects (5, 32)" in text
    assert "fc.bias: file has shape (7,), model expects (5,)" in text
    after = m.parameters_numpy()
    assert all(np.array_equal(before[k], after[k]) for k in before), "a failed load changed the model"
    name, over, _ = ARCHS["cnn"]
    build_model(name, backend=backend_name, **over).save(tmp_path / "c.safetensors")
    with pytest.raises(CheckpointMismatchError) as exc:
        m.load(tmp_path / "c.safetensors")
    text = str(exc.value)
    assert "missing from the file: bn1.num_batches_tracked" in text
    assert "missing from the file: layer4.1.bn2.running_var" in text
    assert "not in the model: convs.0.weight" in text


# -- inputs and modes ---------------------------------------------------------------------------


def test_images_are_channels_last_and_one_channel_may_drop_its_axis(backend_name: str) -> None:
    for shape in ((6, 6), (6, 6, 1)):
        m = build_model("cnn", backend=backend_name, input_shape=shape, channels=(2,), kernel_size=3, hidden=(3,))
        img = np.random.default_rng(0).uniform(size=(2, 6, 6)).astype(np.float32)
        np.testing.assert_allclose(_logits(m, img[..., None]), _logits(m, img), rtol=1e-6, atol=1e-7)
        with pytest.raises(InvalidInputError, match="channels-first"):
            m(m.backend.asarray(img[:, None]))
    m = build_model("resnet18", backend=backend_name, **TINY_RESNET).eval()
    x = np.random.default_rng(1).uniform(size=(4, 8, 8, 3)).astype(np.float32)
    with pytest.raises(InvalidInputError, match=r"channels-last batches \(B, 8, 8, 3\).*channels-first"):
        m(m.backend.asarray(x.transpose(0, 3, 1, 2)))
    with pytest.raises(InvalidInputError, match=r"got shape \(4, 8, 8\)"):
        m(m.backend.asarray(x[..., 0]))


def test_a_channels_last_image_is_read_as_torch_reads_channels_first() -> None:
    """The torch model equals torch's own NCHW layers applied to the permuted image."""
    torch = pytest.importorskip("torch")
    name, over, x_shape = ARCHS["cnn"]
    m = build_model(name, backend="torch", **over)
    x = torch.as_tensor(np.random.default_rng(0).uniform(size=x_shape).astype(np.float32))
    with torch.no_grad():
        h = x.permute(0, 3, 1, 2).contiguous()
        for conv in m.module.convs:
            h = torch.nn.functional.max_pool2d(torch.relu(conv(h)), 2)
        h = torch.relu(m.module.layers[0](h.reshape(len(h), -1)))
        np.testing.assert_allclose(m(x).numpy(), m.module.head(h).numpy(), rtol=1e-6, atol=1e-7)


def test_modes_switch_batchnorm_and_restore(backend_name: str) -> None:
    m = build_model("resnet18", backend=backend_name, **TINY_RESNET)
    _randomise_batchnorm(m, 2)
    x = np.random.default_rng(3).uniform(size=(4, 8, 8, 3)).astype(np.float32)
    m.eval()
    ref = _logits(m, x)
    np.testing.assert_array_equal(_logits(m, x), ref)  # eval mode changes nothing
    assert m.parameters_numpy()["bn1.num_batches_tracked"] == 0
    m.train()
    state = m.mode_state()
    assert not np.allclose(_logits(m, x), ref, rtol=1e-3)
    assert m.parameters_numpy()["bn1.num_batches_tracked"] == 1
    m.eval()
    assert not m.training
    m.restore_mode(state)
    assert m.training and m.mode_state() == state
