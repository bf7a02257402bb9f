"""The StackedModel (ff, gru, lstm, s4d): thesis parameter counts, one layout on both
frameworks, torch/jax parity of logits and input gradients, modes and dropout, errors; and
gru/lstm cells of their own width ``rnn_hidden`` (layout, a numpy forward pass, parity and
weights files across frameworks, None = d_model)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from sparring.core import Model, get_registry
from sparring.core.errors import CheckpointMismatchError, ConfigError, InvalidInputError
from sparring.models import build_model
from sparring.models.stacked import stacked

LAYERS = ["ff", "gru", "lstm", "s4d"]
TINY = dict(input_shape=(12, 3), d_model=8, state_size=4, num_classes=5)
H_TINY = 5  # an rnn_hidden != d_model 8
# Kasl 2024, chapter 5.1 (MNIST, layers of 128, 10 classes)
THESIS_COUNTS = {"ff-mnist": 151_562, "gru-mnist": 133_642, "lstm-mnist": 166_410}


def _both() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("jax")


def _logits(m: Model, x: np.ndarray) -> np.ndarray:
    return m.backend.to_numpy(m(m.backend.asarray(x)))


def _input_grad(m: Model, x: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    be = m.backend
    w_ = be.asarray(w)
    value, grad = be.value_and_grad(lambda z: be.xp.sum(m(z) * w_), be.asarray(x))
    return float(be.to_numpy(value)), be.to_numpy(grad)


def _n_params(m: Model) -> int:
    return sum(v.size for v in m.parameters_numpy().values())


def _n_trainable(m: Model) -> int:
    """Counted from the framework itself: trainable tensors only (no buffers, no BatchStats)."""
    if m.backend.name == "torch":
        assert not list(m.module.buffers())
        return sum(p.numel() for p in m.module.parameters() if p.requires_grad)
    from flax import nnx

    return sum(v[...].size for _, v in nnx.to_flat_state(nnx.state(m.module, nnx.Param)))


# -- layout and counts ------------------------------------------------------------------


@pytest.mark.parametrize(("name", "count"), sorted(THESIS_COUNTS.items()))
def test_mnist_presets_have_the_thesis_parameter_counts(backend_name: str, name: str, count: int) -> None:
    m = build_model(name, backend=backend_name)
    assert m.input_shape == (784, 1) and m.num_classes == 10 and m.value_range == (-1.0, 1.0)
    assert _n_params(m) == _n_trainable(m) == count


def test_s4d_mnist_count_is_the_diagonal_layer_plus_the_shared_shell(backend_name: str) -> None:
    # shell: encoder 1->128 (256) + LayerNorm (256) + GLU 2x(128x128+128) + decoder 128->10
    shell = 256 + 256 + 2 * (128 * 128 + 128) + 128 * 10 + 10
    # S4D: log_dt (128) + log_A_real, A_imag (128x32 each) + C (128x32x2) + D (128)
    s4d = 128 + 2 * 128 * 32 + 128 * 32 * 2 + 128
    assert _n_params(build_model("s4d-mnist", backend=backend_name)) == shell + s4d == 51_466


def test_registry_entries_match_the_factory() -> None:
    defaults = {
        k: p.default for k, p in inspect.signature(stacked).parameters.items()
        if k not in ("backend", "device", "seed")
    }
    registry = get_registry()
    assert registry.get_model("stacked").params == defaults
    for layer in LAYERS:
        spec = registry.get_model(f"{layer}-mnist")
        assert spec.backends == ("torch", "jax") and spec.factory == "sparring.models.stacked:stacked"
        assert spec.params == {**defaults, "layer": layer, "value_range": (-1.0, 1.0)}


def test_one_parameter_layout_for_every_layer(backend_name: str) -> None:
    d, F, C = 8, 3, 5
    shell = {
        "encoder.weight": (d, F), "encoder.bias": (d,),
        "blocks.0.norm.weight": (d,), "blocks.0.norm.bias": (d,),
        "blocks.0.out.weight": (d, d), "blocks.0.out.bias": (d,),
        "blocks.0.gate.weight": (d, d), "blocks.0.gate.bias": (d,),
        "decoder.weight": (C, d), "decoder.bias": (C,),
    }
    seq = {
        "ff": {"weight": (d, d), "bias": (d,)},
        "gru": {"weight_ih": (3 * d, d), "bias_ih": (3 * d,), "weight_hh": (3 * d, d), "bias_hn": (d,)},
        "lstm": {"weight_ih": (4 * d, d), "weight_hh": (4 * d, d), "bias": (4 * d,)},
        "s4d": {"log_dt": (d,), "log_A_real": (d, 2), "A_imag": (d, 2), "C": (d, 2, 2), "D": (d,)},
    }
    for layer in LAYERS:
        m = build_model("stacked", backend=backend_name, layer=layer, **TINY)
        assert isinstance(m, Model)
        expected = {**shell, **{f"blocks.0.seq.{k}": s for k, s in seq[layer].items()}}
        if layer == "ff":  # one step of all 36 input values
            expected["encoder.weight"] = (d, 12 * F)
        assert {k: v.shape for k, v in m.parameters_numpy().items()} == expected, layer


def test_blocks_stack(backend_name: str) -> None:
    m = build_model("stacked", backend=backend_name, layer="gru", n_layers=3, **TINY)
    names = m.parameters_numpy()
    assert "blocks.2.seq.bias_hn" in names and "blocks.3.norm.weight" not in names
    assert _logits(m, np.zeros((2, 12, 3), np.float32)).shape == (2, 5)


def test_same_seed_same_weights(backend_name: str) -> None:
    for layer in LAYERS:
        a = build_model("stacked", backend=backend_name, layer=layer, seed=3, **TINY).parameters_numpy()
        b = build_model("stacked", backend=backend_name, layer=layer, seed=3, **TINY).parameters_numpy()
        c = build_model("stacked", backend=backend_name, layer=layer, seed=4, **TINY).parameters_numpy()
        assert all(np.array_equal(a[k], b[k]) for k in a), layer
        assert not np.array_equal(a["decoder.weight"], c["decoder.weight"]), layer


# -- torch / jax parity -------------------------------------------------------------------


def _assert_same_function(tmp_path, src: str, dst: str, **kwargs: object) -> None:
    """A ``src`` model's weights file makes a ``dst`` model (other seed) the same function:
    logits and input gradients agree in train mode (dropout 0) and eval mode."""
    _both()
    a = build_model("stacked", backend=src, seed=1, **{**TINY, **kwargs})
    b = build_model("stacked", backend=dst, seed=2, **{**TINY, **kwargs})
    a.save(tmp_path / "w.safetensors")
    b.load(tmp_path / "w.safetensors")
    pa, pb = a.parameters_numpy(), b.parameters_numpy()
    assert pa.keys() == pb.keys() and all(np.array_equal(pa[k], pb[k]) for k in pa)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 12, 3)).astype(np.float32)
    w = rng.normal(size=(4, 5)).astype(np.float32)
    for training in (True, False):
        a.train(training)
        b.train(training)
        np.testing.assert_allclose(_logits(a, x), _logits(b, x), rtol=1e-4, atol=1e-5)
        va, ga = _input_grad(a, x, w)
        vb, gb = _input_grad(b, x, w)
        np.testing.assert_allclose(va, vb, rtol=1e-4, atol=1e-5)
        assert np.abs(ga).max() > 1e-3, "input gradient vanished; the comparison would be vacuous"
        np.testing.assert_allclose(ga, gb, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize(("src", "dst"), [("torch", "jax"), ("jax", "torch")])
def test_weights_file_gives_the_same_function_on_both_frameworks(tmp_path, layer: str, src: str, dst: str) -> None:
    _assert_same_function(tmp_path, src, dst, layer=layer)


@pytest.mark.parametrize(("layer", "src", "dst"), [("gru", "torch", "jax"), ("lstm", "jax", "torch")])
def test_recurrent_width_is_the_same_function_on_both_frameworks(tmp_path, layer: str, src: str, dst: str) -> None:
    """Cells H = 5 wide in d = 8 (each cell one way; test_recurrent_width_forward_matches_numpy
    checks both cells on both frameworks against numpy)."""
    _assert_same_function(tmp_path, src, dst, layer=layer, rnn_hidden=H_TINY)


# -- recurrent cells of their own width (rnn_hidden) -----------------------------------------


def test_recurrent_width_layout(backend_name: str) -> None:
    """Cell d -> H, GLU H -> d; everything else d wide, as without rnn_hidden."""
    d, H, F, C = 8, H_TINY, 3, 5
    seq = {
        "gru": {"weight_ih": (3 * H, d), "bias_ih": (3 * H,), "weight_hh": (3 * H, H), "bias_hn": (H,)},
        "lstm": {"weight_ih": (4 * H, d), "weight_hh": (4 * H, H), "bias": (4 * H,)},
    }
    for layer in ("gru", "lstm"):
        m = build_model("stacked", backend=backend_name, layer=layer, rnn_hidden=H, **TINY)
        plain = build_model("stacked", backend=backend_name, layer=layer, **TINY)
        expected = {k: v.shape for k, v in plain.parameters_numpy().items() if ".seq." not in k}
        expected.update({"blocks.0.out.weight": (d, H), "blocks.0.gate.weight": (d, H)})
        expected.update({f"blocks.0.seq.{k}": s for k, s in seq[layer].items()})
        assert expected["encoder.weight"] == (d, F) and expected["decoder.weight"] == (C, d)
        assert {k: v.shape for k, v in m.parameters_numpy().items()} == expected, layer


def test_rnn_hidden_none_is_d_model(backend_name: str) -> None:
    """rnn_hidden = d_model draws the same weights as None: the same model."""
    x = np.random.default_rng(0).normal(size=(2, 12, 3)).astype(np.float32)
    for layer in ("gru", "lstm"):
        a = build_model("stacked", backend=backend_name, layer=layer, seed=3, **TINY).eval()
        b = build_model("stacked", backend=backend_name, layer=layer, seed=3, rnn_hidden=8, **TINY).eval()
        pa, pb = a.parameters_numpy(), b.parameters_numpy()
        assert pa.keys() == pb.keys() and all(np.array_equal(pa[k], pb[k]) for k in pa), layer
        np.testing.assert_array_equal(_logits(a, x), _logits(b, x))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _numpy_logits(p: dict[str, np.ndarray], layer: str, x: np.ndarray) -> np.ndarray:
    """The one-block StackedModel of the module docs, by hand in float64 (eval mode)."""
    lin = lambda z, name: z @ p[f"{name}.weight"].T + p[f"{name}.bias"]  # noqa: E731
    h = lin(x.astype(np.float64), "encoder")  # (B, L, d)
    mu, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
    u = (h - mu) / np.sqrt(var + 1e-6) * p["blocks.0.norm.weight"] + p["blocks.0.norm.bias"]
    w_ih, w_hh = p["blocks.0.seq.weight_ih"], p["blocks.0.seq.weight_hh"]
    H = w_hh.shape[1]
    state, c, outs = np.zeros((x.shape[0], H)), np.zeros((x.shape[0], H)), []
    for k in range(x.shape[1]):
        if layer == "gru":
            gi, gh = u[:, k] @ w_ih.T + p["blocks.0.seq.bias_ih"], state @ w_hh.T
            r = _sigmoid(gi[:, :H] + gh[:, :H])
            z = _sigmoid(gi[:, H : 2 * H] + gh[:, H : 2 * H])
            n = np.tanh(gi[:, 2 * H :] + r * (gh[:, 2 * H :] + p["blocks.0.seq.bias_hn"]))
            state = (1 - z) * n + z * state
        else:
            i, f, g, o = np.split(u[:, k] @ w_ih.T + state @ w_hh.T + p["blocks.0.seq.bias"], 4, axis=-1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            state = _sigmoid(o) * np.tanh(c)
        outs.append(state)
    z = np.stack(outs, axis=1)  # (B, L, H)
    z = 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3)))  # GELU, tanh form
    h = h + lin(z, "blocks.0.out") * _sigmoid(lin(z, "blocks.0.gate"))  # (B, L, d)
    return lin(h.mean(axis=1), "decoder")  # (B, C)


@pytest.mark.parametrize("layer", ["gru", "lstm"])
def test_recurrent_width_forward_matches_numpy(backend_name: str, layer: str) -> None:
    m = build_model("stacked", backend=backend_name, layer=layer, seed=1, rnn_hidden=H_TINY, **TINY).eval()
    x = np.random.default_rng(2).normal(size=(3, 12, 3)).astype(np.float32)
    np.testing.assert_allclose(_logits(m, x), _numpy_logits(m.parameters_numpy(), layer, x), rtol=1e-4, atol=1e-5)


def test_weights_file_of_another_width_is_refused(tmp_path, backend_name: str) -> None:
    other = "jax" if backend_name == "torch" else "torch"
    pytest.importorskip(other)
    build_model("stacked", backend=other, layer="gru", rnn_hidden=H_TINY, **TINY).save(tmp_path / "w.safetensors")
    m = build_model("stacked", backend=backend_name, layer="gru", **TINY)
    with pytest.raises(CheckpointMismatchError, match="blocks.0.seq.weight_hh"):
        m.load(tmp_path / "w.safetensors")


# -- recurrent layers against torch's own cells -----------------------------------------------


def test_gru_is_torch_gru_with_only_the_candidate_hidden_bias() -> None:
    torch = pytest.importorskip("torch")
    from sparring.models.torch.rnn import GRU

    ours = GRU(3, 6, generator=torch.Generator().manual_seed(0))
    ref = torch.nn.GRU(3, 6, batch_first=True)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(ours.weight_ih)
        ref.bias_ih_l0.copy_(ours.bias_ih)
        ref.weight_hh_l0.copy_(ours.weight_hh)
        ref.bias_hh_l0.copy_(torch.cat([torch.zeros(12), ours.bias_hn]))
    x = torch.randn(2, 9, 3, generator=torch.Generator().manual_seed(1))
    h = ours(x)
    torch.testing.assert_close(h, ref(x)[0], rtol=1e-5, atol=1e-6)
    h_k = ours.initial_state(2)
    for k in range(9):  # the streaming step agrees with the scan
        h_k = ours.step(x[:, k], h_k)
    torch.testing.assert_close(h_k, h[:, -1], rtol=1e-5, atol=1e-6)


def test_lstm_is_torch_lstm_with_one_bias() -> None:
    torch = pytest.importorskip("torch")
    from sparring.models.torch.rnn import LSTM

    ours = LSTM(3, 6, generator=torch.Generator().manual_seed(0))
    ref = torch.nn.LSTM(3, 6, batch_first=True)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(ours.weight_ih)
        ref.weight_hh_l0.copy_(ours.weight_hh)
        ref.bias_ih_l0.copy_(ours.bias)
        ref.bias_hh_l0.zero_()
    x = torch.randn(2, 9, 3, generator=torch.Generator().manual_seed(1))
    h = ours(x)
    torch.testing.assert_close(h, ref(x)[0], rtol=1e-5, atol=1e-6)
    state = ours.initial_state(2)
    for k in range(9):
        state = ours.step(x[:, k], state)
    torch.testing.assert_close(state[0], h[:, -1], rtol=1e-5, atol=1e-6)


def test_jax_recurrent_steps_agree_with_the_scan() -> None:
    jax = pytest.importorskip("jax")
    from flax import nnx

    from sparring.models.jax.rnn import GRU, LSTM

    x = jax.random.normal(jax.random.key(1), (4, 12, 8))
    for cls in (GRU, LSTM):
        layer = cls(8, 8, rngs=nnx.Rngs(0))
        h = layer(x)
        state = layer.initial_state(4)
        for k in range(12):
            state = layer.step(x[:, k], state)
        last = state if cls is GRU else state[0]
        np.testing.assert_allclose(np.asarray(last), np.asarray(h[:, -1]), rtol=1e-5, atol=1e-6)


# -- modes and dropout --------------------------------------------------------------------


@pytest.mark.parametrize("layer", ["ff", "s4d"])
def test_dropout_acts_in_train_mode_only_and_modes_restore(backend_name: str, layer: str) -> None:
    x = np.random.default_rng(0).normal(size=(4, 12, 3)).astype(np.float32)
    m = build_model("stacked", backend=backend_name, layer=layer, dropout=0.5, **TINY)
    m.eval()
    ref = _logits(m, x)
    np.testing.assert_array_equal(_logits(m, x), ref)
    m.train()
    first, second = _logits(m, x), _logits(m, x)
    assert not np.allclose(first, ref) and not np.allclose(first, second)
    state = m.mode_state()
    m.eval()
    np.testing.assert_array_equal(_logits(m, x), ref)
    m.restore_mode(state)
    assert m.training and m.mode_state() == state
    assert not np.allclose(_logits(m, x), ref)

    plain = build_model("stacked", backend=backend_name, layer=layer, dropout=0.0, **TINY)
    plain.train()
    train_out = _logits(plain, x)
    plain.eval()
    np.testing.assert_array_equal(_logits(plain, x), train_out)


def test_evaluating_sets_what_eval_sets_and_restores_a_mixed_mode(backend_name: str) -> None:
    """``evaluating`` (one walk on jax: ``enter_eval``) leaves every submodule as ``eval()``
    would, and puts back a mix of train and eval flags set submodule by submodule."""
    from sparring.core.modes import evaluating

    m = build_model("stacked", backend=backend_name, layer="ff", dropout=0.5, **TINY)
    m.eval()
    eval_state = m.mode_state()
    m.train()
    if backend_name == "jax":  # one submodule with mode flags back in eval mode by hand
        flags = m.mode_state()["flags"]
        module, names = flags[0]
        for name in names:
            setattr(module, name, True)
    else:
        list(m.module.modules())[1].eval()  # one submodule back in eval mode by hand
    mixed = m.mode_state()
    assert mixed != eval_state
    with evaluating(m):
        assert not m.training and m.mode_state() == eval_state
    assert m.training and m.mode_state() == mixed


def test_dropout_mask_is_shared_over_time(backend_name: str) -> None:
    m = build_model("stacked", backend=backend_name, layer="ff", dropout=0.5, **TINY)
    m.train()
    drop = m.module.blocks[0].drop
    ones = m.backend.asarray(np.ones((16, 10, 8), np.float32))
    out = m.backend.to_numpy(drop(ones))  # (B, L, d)
    assert out.shape == (16, 10, 8) and set(np.unique(out)) == {0.0, 2.0}
    np.testing.assert_array_equal(out, np.broadcast_to(out[:, :1], out.shape))


@pytest.mark.parametrize("kwargs", [{"layer": "s4d"}, {"layer": "gru", "rnn_hidden": H_TINY}])
def test_dropout_sites_agree_across_frameworks(tmp_path, kwargs: dict) -> None:
    """Both blocks apply dropout at the same places (on the H-wide cell output and the
    d-wide GLU output): swap it for one fixed channel mask, cut to the width it meets."""
    _both()
    import torch

    mask = np.random.default_rng(5).uniform(0.0, 2.0, (1, 1, 8)).astype(np.float32)

    class TorchMask(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * torch.as_tensor(mask[..., : x.shape[-1]])

    a = build_model("stacked", backend="torch", seed=1, **{**TINY, **kwargs})
    b = build_model("stacked", backend="jax", seed=2, **{**TINY, **kwargs})
    a.save(tmp_path / "w.safetensors")
    b.load(tmp_path / "w.safetensors")
    x = np.random.default_rng(0).normal(size=(4, 12, 3)).astype(np.float32)
    plain = _logits(a, x)
    a.module.blocks[0].drop = TorchMask()
    b.module.blocks[0].drop = lambda z: z * mask[..., : z.shape[-1]]
    masked = _logits(a, x)
    assert np.abs(masked - plain).max() > 1e-3
    np.testing.assert_allclose(_logits(b, x), masked, rtol=1e-4, atol=1e-5)


# -- inputs and errors -------------------------------------------------------------------------


def test_images_are_read_pixel_by_pixel_in_row_major_order(backend_name: str) -> None:
    m = build_model("stacked", backend=backend_name, layer="s4d", **{**TINY, "input_shape": (12, 1)})
    img = np.random.default_rng(0).uniform(size=(4, 3, 4)).astype(np.float32)
    seq = _logits(m, img.reshape(4, 12, 1))
    np.testing.assert_allclose(_logits(m, img), seq, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_logits(m, img[:, None]), seq, rtol=1e-6, atol=1e-6)
    with pytest.raises(InvalidInputError, match="12 values per sample"):
        m(m.backend.asarray(np.zeros((4, 11), np.float32)))


def test_bad_configurations_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="did you mean 'lstm'"):
        build_model("stacked", backend="torch", layer="lstn")
    with pytest.raises(ConfigError, match="must be even"):
        build_model("stacked", backend="torch", layer="s4d", state_size=5)
    with pytest.raises(ConfigError, match=r"\(784, 3\)"):
        build_model("stacked", backend="torch", layer="gru", input_shape=(3, 28, 28))
    with pytest.raises(ConfigError, match="dropout"):
        build_model("stacked", backend="torch", dropout=1.0)
    with pytest.raises(ConfigError, match="rnn_hidden must be >= 1"):
        build_model("stacked", backend="torch", layer="gru", rnn_hidden=0)
    # ff reads any sample shape as one step
    m = build_model("stacked", backend="torch", layer="ff", input_shape=(1, 4, 4), d_model=4)
    assert m.parameters_numpy()["encoder.weight"].shape == (4, 16)


@pytest.mark.parametrize("layer", ["ff", "s4", "s4d"])
def test_rnn_hidden_is_for_recurrent_layers_only(backend_name: str, layer: str) -> None:
    with pytest.raises(ConfigError, match="only applies to layer 'gru' or 'lstm'"):
        build_model("stacked", backend=backend_name, layer=layer, rnn_hidden=4, **TINY)
    # a gru/lstm preset keeps its width when only the layer is overridden: say rnn_hidden=None
    with pytest.raises(ConfigError, match="rnn_hidden=None"):
        build_model("gru-us8k", backend=backend_name, layer=layer, input_shape=(6, 1))


def test_jitted_forward_matches_eager() -> None:
    pytest.importorskip("jax")
    for layer in LAYERS:
        m = build_model("stacked", backend="jax", layer=layer, **TINY).eval()
        x = m.backend.asarray(np.random.default_rng(0).normal(size=(2, 12, 3)).astype(np.float32))
        np.testing.assert_allclose(
            m.backend.to_numpy(m.backend.compile(lambda z: m(z))(x)), m.backend.to_numpy(m(x)), rtol=1e-5, atol=1e-6
        )
