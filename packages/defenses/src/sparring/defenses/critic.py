"""Robust learning with an adversary critic (Matyasko thesis, chapter 4; NeurIPS 2018).

A classifier f is robust when its adversarial examples look like real data of the
attack's target class (Eq. 4.2). A critic D with k outputs learns to tell, for every
class k, real samples of k from adversarial examples targeted at k; the classifier is
trained to classify correctly *and* to make its own adversarial examples fool D.
Each training step alternates (line 1085):

1. critic step (``inputs``, no classifier gradients), Eq. 4.3 as a binary
   cross-entropy on the k-th output ``z_k = D(x)_k`` read as the logit of "real"::

       L_D = mean_i softplus(-z_{y_i}(x_i)) + mean_{i∈S} softplus(z_{t_i}(x̂_i))
             + λ_grad [ mean_i (‖∇_x z_{y_i}(x_i)‖_2 - 1)² + mean_{i∈S} (‖∇_x z_{t_i}(x̂_i)‖_2 - 1)² ]

   with x̂_i = A_f(x_i; t_i) the high-confidence attack below, t_i ≠ y_i its target and
   S the samples the attack moved to their target (argmax f(x̂_i) = t_i). The gradient
   penalty (Gulrajani et al. 2017, the thesis's [130]) is taken at the real and the
   adversarial points *separately*, without interpolating (line 1020).
2. classifier step (``objective``, differentiated w.r.t. f's parameters *through* the
   attack; Eq. 4.4 and the cycle-consistency Eq. 4.5)::

       L_f = mean_i CE(f(x_i), y_i) + λ · mean_{i∈S} softplus(-z_{t_i}(A_f(x_i; t_i)))
             + λ_cycle · mean_{i∈S} ‖A_f(sg(A_f(x_i; t_i)); y_i) - x_i‖_2

The high-confidence attack A_f(x; t) (Algorithm 1, Eq. 4.6-4.8, lines 1041-1076) solves
min ‖r‖ s.t. p_t(x + r) ≥ C by Newton steps on the log-likelihood, N_max = ``steps``
times, each kept only while the target confidence is still below C::

    x̄_i = sg(clip(x + (1 + overshoot) R_{i-1}))                     R_0 = 0
    w_i = ∇_x log p_t(x̄_i),   r_i = (log C - log p_t(x̄_i)) / (‖w_i‖² + 1e-8) · w_i
    s_i = s_{i-1} · I[p_t(x̄_i) < C],   R_i = R_{i-1} + s_i r_i,      s_0 = 1
    A_f(x; t) = clip(x + (1 + overshoot) R_N)

The indicator I is replaced in the backward pass by the sigmoid-adjusted straight-through
estimator (line 1074; Bengio, Léonard & Courville 2013, arXiv:1308.3432): forward ``[p < C]`` =
``round(sigmoid(C - p))``, backward ``d sigmoid(C - p)``. Gradients reach the classifier's
parameters through every w_i, log p_t(x̄_i) and s_i (double back-propagation,
``Backend.input_gradient``); sg (stop-gradient) on x̄_i means the iterate at which the
step is linearised is treated as a constant, as in the reference code.

Defaults are the thesis's MNIST settings (§4.5, line 1101): λ = 0.5 (the fully-connected
network; 0.1 for Lenet-5), λ_cycle = 1e-2, λ_grad = 10, N_max = 5, critic Adam with
lr 1e-3 and β_1 = 0.5, critic = two hidden layers of 1200 units (``critic="dense"``,
``critic_params={"hidden": (1200, 1200)}``), the attack's target t = the class with the
closest (linearised) decision boundary and its confidence C = the running mean of the
classifier's confidence on the natural images it assigns to class t (line 1083). The classifier's own
settings belong to ``[train]``: Adam lr 5e-4, batch 100, 100 epochs, lr halved every 40
epochs (``schedule="step", step_size=40, gamma=0.5``); the thesis pre-trains it one epoch
without regularisation (run ``standard`` first) and uses Adam β_1 = 0.5, which
``TrainConfig`` does not expose (it trains with β = (0.9, 0.999)).

Reference: A. Matyasko, "Towards deep neural networks robust to adversarial examples"
(PhD thesis, NTU 2020, doi:10.32657/10356/143316), chapter 4
(``references/matyasko-2020-robust-dnn-thesis.txt``, lines 953-1177); A. Matyasko and
L.-P. Chau, "Improved Network Robustness with Adversary Critic", NeurIPS 2018. Reference
code: github.com/aam-at/adversary_critic (``attack.py``: ``high_confidence_attack_unrolled``;
``train_critic.py``).

Notes
-----
- Signs of Eq. 4.3 / 4.4. Read literally (``min_D E log D_k(x) + E log(1 - D_k(x̂))``
  and ``min_f λ E log D_k(x̂)``), D_k is the probability that its input is *adversarial*
  and the classifier minimises log D_k^adv(x̂): the saturating GAN generator loss, whose
  gradient vanishes exactly when the critic spots the adversarial examples. Here, as in
  the reference code (``sigmoid_cross_entropy`` with labels real = 1, adversarial = 0),
  z_k is the logit of "real" and the classifier minimises
  ``softplus(-z) = -log D_k^real(x̂) = -log(1 - D_k^adv(x̂))``, the non-saturating form
  (Goodfellow et al. 2014): minimising it drives the critic to believe the adversarial
  examples are real samples of their target class; it has the same fixed point.
- Overshoot. log p_t is concave in x for a linear model (and locally for ReLU networks), so
  the Newton step of Eq. 4.8 lands *below* C and Algorithm 1 would never stop; the
  reference code evaluates at ``x + 1.05 R`` (``attack_overshoot = 0.05``), kept here.
- Which samples count. Eq. 4.3-4.5 use adversarial examples that reach their target;
  samples whose attack fails within N_max steps (argmax f(x̂) ≠ t) are left out of the
  adversarial terms (masked means; the reference code filters on "prediction changed").
  The critic's output is read at the target t (Eq. 4.3's D_k(A_f(x; y_k))).
- Targets and confidences. t = argmin_{j≠y} |z_j - z_y| / ‖∇z_j - ∇z_y‖_2 at x (DeepFool's
  closest boundary, from the true label y; the reference code starts from the predicted
  label) or, with ``target="random"``, uniform over j ≠ y from the batch seed. The running
  mean per predicted class of max_k p_k(x) (decay 0.5, as in the reference code) gives C_t;
  it starts from the first batch's means (a class not predicted there: the batch's mean
  confidence), where the thesis starts from a pre-training epoch. ``confidence=c`` fixes
  C_t = c instead. The back-attack of the cycle aims at y
  with C = p_y(x) on the clean input (the reference code: the predicted class and its
  confidence), and starts from sg(x̂) as in the reference code.
- Cycle norm: ‖·‖_2 as Eq. 4.5 writes it; ``cycle_squared=True`` sums squares as the
  reference code does (``lmbd_rec_l2``).
- Not reproduced: the critic's leaky ReLUs and Gaussian noise on each layer's input
  (line 1101: the registry's ``dense`` uses ReLU, no noise; pick another registered model
  with ``critic``), the critic's learning-rate schedule (constant here).
- The adversarial inputs are computed in the model's current (training) mode, like the
  reference code's generator; per-sample input gradients are gradients of batch sums, so
  the classifier and the critic must treat samples independently (no BatchNorm in
  training mode).
- State. The critic, its optimiser and the confidence means live in the objective
  instance (created on the first batch from its seed, so a run is reproducible from the
  trainer's seed). The Trainer does not checkpoint them yet: a resumed run starts a new
  critic. :meth:`AdversaryCritic.state_numpy` / :meth:`~AdversaryCritic.load_state_numpy`
  save and restore them for a trainer that does.
- Cost per step: two N_max-step attacks with double back-propagation in the classifier
  step, one N_max-step attack plus K - 1 backward passes (closest target) in the critic step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from sparring.attacks.boundary import column_class, margin_jacobian
from sparring.attacks.losses import log_softmax, one_hot
from sparring.core.errors import ConfigError
from sparring.core.protocols import Array, Model

from .base import Objective, check_eps, check_steps, mean_ce

__all__ = [
    "AdversaryCritic", "adversary_critic", "high_confidence_attack", "closest_targets", "critic_loss",
    "DEFAULT_CRITIC_PARAMS",
]

DEFAULT_CRITIC_PARAMS = {"dense": {"hidden": (1200, 1200)}}
"""The thesis's critic (line 1101): two hidden layers of 1200 units."""

_EPS = 1e-8  # in ‖w‖² + ε (the reference code's epsilon)
_CONF_DECAY = 0.5  # running mean of the class confidences (reference code)
_MIN_CONF = 1e-6  # confidences are clipped to [_MIN_CONF, 1] before the log


def _flat(xp: Any, v: Array) -> Array:
    return xp.reshape(v, (v.shape[0], -1))


def _per_sample(xp: Any, v: Array, like: Array) -> Array:
    """``(B,)`` -> ``(B, 1, ..., 1)`` to broadcast against ``like``."""
    return xp.reshape(v, (-1,) + (1,) * (like.ndim - 1))


def _softplus(xp: Any, z: Array) -> Array:
    return xp.logaddexp(xp.zeros_like(z), z)


def _sigmoid(xp: Any, z: Array) -> Array:
    return 1.0 / (1.0 + xp.exp(-z))


def _norm(xp: Any, v: Array) -> Array:
    """Per-sample ‖v‖_2 with a finite (zero) gradient at v = 0."""
    s = xp.sum(_flat(xp, v * v), axis=1)
    positive = s > 0
    return xp.where(positive, xp.sqrt(xp.where(positive, s, 1.0)), 0.0)


def _masked_mean(xp: Any, values: Array, mask: Array) -> Array:
    m = xp.astype(mask, values.dtype)
    return xp.sum(m * values) / xp.maximum(xp.sum(m), 1.0)


def _as_vector(xp: Any, value: float | Array, x: Array) -> Array:
    ones = xp.ones((x.shape[0],), dtype=x.dtype, device=getattr(x, "device", None))
    return ones * value if isinstance(value, (int, float)) else ones * xp.astype(value, x.dtype)


def high_confidence_attack(
    model: Model, x: Array, targets: Array, confidence: float | Array, *, steps: int = 5,
    overshoot: float = 0.05, differentiable: bool = True,
) -> Array:
    """A_f(x; t): Algorithm 1 / Eq. 4.8 unrolled for ``steps`` steps (see the module docstring).

    Args:
        model: the classifier f.
        x: inputs ``(B, ...)``.
        targets: target classes t ``(B,)``.
        confidence: C, a number or per-sample ``(B,)`` array in (0, 1]; a sample stops
            once p_t ≥ C at its current iterate.
        steps: N_max.
        overshoot: the model is evaluated at ``x + (1 + overshoot) R``.
        differentiable: keep the graph to f's parameters (double back-prop and the
            straight-through indicator); False: a plain attack without parameter gradients.

    Returns:
        ``clip(x + (1 + overshoot) R_N)`` in the model's value range, shape of ``x``.
    """
    be = model.backend
    xp = be.xp
    lo, hi = model.value_range
    onehot = one_hot(xp, targets, model.num_classes, x.dtype)  # (B, K)
    conf = xp.clip(_as_vector(xp, confidence, x), _MIN_CONF, 1.0)  # (B,)
    log_c = xp.log(conf)

    def log_p(v: Array) -> Array:  # (B,): log p_t(v)
        return xp.sum(log_softmax(xp, model(v)) * onehot, axis=1)

    def log_p_sum(v: Array) -> Any:
        lp = log_p(v)
        return xp.sum(lp), lp

    r = xp.zeros_like(x)
    alive = xp.ones_like(conf)  # s_i
    for _ in range(steps):
        x_i = be.stop_gradient(xp.clip(x + (1.0 + overshoot) * r, lo, hi))
        if differentiable:
            w = be.input_gradient(lambda v: log_p_sum(v)[0], x_i)
            lp = log_p(x_i)
        else:
            (_, lp), w = be.value_and_grad(log_p_sum, x_i, has_aux=True)
        p = xp.exp(lp)
        hard = xp.astype(p < conf, x.dtype)
        if differentiable:  # sigmoid-adjusted straight-through: forward hard, backward d sigmoid
            soft = _sigmoid(xp, conf - p)
            gate = soft + be.stop_gradient(hard - soft)
        else:
            gate = hard
        alive = alive * gate
        scale = alive * (log_c - lp) / (xp.sum(_flat(xp, w * w), axis=1) + _EPS)  # (B,)
        r = r + _per_sample(xp, scale, x) * w
    return xp.clip(x + (1.0 + overshoot) * r, lo, hi)


def closest_targets(model: Model, x: Array, y: Array) -> tuple[Array, Array]:
    """``argmin_{j≠y} |z_j - z_y| / ‖∇z_j - ∇z_y‖_2`` at x (DeepFool's closest boundary) and
    the logits, without parameter gradients (one forward, K - 1 backward passes)."""
    be = model.backend
    xp = be.xp
    f, w, logits = margin_jacobian(model, x, y)  # (B, K - 1), (K - 1, B, ...), (B, K)
    f, w, logits = be.stop_gradient(f), be.stop_gradient(w), be.stop_gradient(logits)
    b = logits.shape[0]
    norms = xp.sqrt(xp.sum(xp.reshape(w, (w.shape[0], b, -1)) ** 2, axis=2))  # (K - 1, B)
    dist = xp.abs(f) / (xp.permute_dims(norms, (1, 0)) + 1e-12)  # (B, K - 1)
    return column_class(xp, xp.argmin(dist, axis=1), y), logits


def critic_loss(critic: Model, x: Array, y: Array, x_adv: Array, targets: Array, mask: Array, *,
                lam_grad: float = 10.0) -> tuple[Array, Array]:
    """Eq. 4.3 as a binary cross-entropy (real = 1) plus the separate gradient penalties.

    ``x`` with labels ``y`` are real; ``x_adv`` with targets ``targets`` adversarial, only the
    rows where ``mask`` is true counting. Returns ``(loss, z_real)``, z_real = D(x)_{y}.
    """
    be = critic.backend
    xp = be.xp
    k = critic.num_classes
    oh_real = one_hot(xp, y, k, x.dtype)
    oh_adv = one_hot(xp, targets, k, x.dtype)
    z_real = xp.sum(critic(x) * oh_real, axis=1)  # (B,)
    z_adv = xp.sum(critic(x_adv) * oh_adv, axis=1)  # (B,)
    loss = xp.mean(_softplus(xp, -z_real)) + _masked_mean(xp, _softplus(xp, z_adv), mask)
    if lam_grad:
        g_real = be.input_gradient(lambda v: xp.sum(critic(v) * oh_real), x)
        g_adv = be.input_gradient(lambda v: xp.sum(critic(v) * oh_adv), x_adv)
        penalty = xp.mean((_norm(xp, g_real) - 1.0) ** 2) + _masked_mean(xp, (_norm(xp, g_adv) - 1.0) ** 2, mask)
        loss = loss + lam_grad * penalty
    return loss, z_real


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(pairs: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return {k: v for k, v in pairs}


@dataclass(frozen=True)
class AdversaryCritic(Objective):
    """The adversary-critic defense (see the module docstring for the equations).

    Args:
        lam: λ of Eq. 4.4, the weight of fooling the critic (0.5: FC network; 0.1: Lenet-5).
        lam_cycle: λ_rec, the weight of the cycle-consistency Eq. 4.5.
        lam_grad: λ_grad, the weight of the critic's gradient-norm penalties.
        steps: N_max, the attack's iterations.
        confidence: C of the attack: None for the running class means (thesis), or a fixed
            number in (0, 1].
        overshoot: evaluate the attack at ``x + (1 + overshoot) R`` (reference code: 0.05).
        target: ``"closest"`` (closest decision boundary, thesis) or ``"random"`` (uniform
            over the other classes).
        cycle_squared: the squared cycle distance (reference code) instead of Eq. 4.5's norm.
        critic: registered model name of the critic D (k = num_classes outputs; built with
            the classifier's input shape, classes, value range and dtype).
        critic_params: parameters of the critic model; None: the thesis's two layers of 1200
            units for ``"dense"``, the registry's defaults otherwise.
        critic_lr: the critic's Adam learning rate.
        critic_betas: the critic's Adam β (thesis: β_1 = 0.5).
    """

    lam: float = 0.5
    lam_cycle: float = 1e-2
    lam_grad: float = 10.0
    steps: int = 5
    confidence: float | None = None
    overshoot: float = 0.05
    target: str = "closest"
    cycle_squared: bool = False
    critic: str = "dense"
    critic_params: Any = None
    critic_lr: float = 1e-3
    critic_betas: tuple[float, float] = (0.5, 0.999)
    _state: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("lam", "lam_cycle", "lam_grad", "overshoot"):
            object.__setattr__(self, name, check_eps(name, getattr(self, name)))
        check_steps(self.steps)
        if self.confidence is not None:
            c = check_eps("confidence", self.confidence, positive=True)
            if c > 1:
                raise ConfigError(f"confidence must be in (0, 1] or None (running class means), got {c!r}")
            object.__setattr__(self, "confidence", c)
        if self.target not in ("closest", "random"):
            raise ConfigError(f"target must be 'closest' or 'random', got {self.target!r}")
        if not isinstance(self.cycle_squared, bool):
            raise ConfigError(f"cycle_squared must be True or False, got {self.cycle_squared!r}")
        if not isinstance(self.critic, str) or not self.critic:
            raise ConfigError(f"critic must be a registered model name such as 'dense', got {self.critic!r}")
        params = self.critic_params
        if params is None:
            params = DEFAULT_CRITIC_PARAMS.get(self.critic, {})
        elif isinstance(params, tuple):
            params = _thaw(params)
        if not isinstance(params, Mapping):
            raise ConfigError(f"critic_params must be a table of model parameters, got {type(params).__name__}")
        object.__setattr__(self, "critic_params", _freeze(params))
        object.__setattr__(self, "critic_lr", check_eps("critic_lr", self.critic_lr, positive=True))
        betas = tuple(float(b) for b in self.critic_betas)
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ConfigError(f"critic_betas must be two numbers in [0, 1), got {self.critic_betas!r}")
        object.__setattr__(self, "critic_betas", betas)

    def describe(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if not k.startswith("_")}
        out["critic_params"] = _thaw(self.critic_params)
        return out

    # -- the critic ------------------------------------------------------------------------
    def critic_for(self, model: Model, seed: int = 0) -> Model:
        """The critic D of this objective, built on first use for ``model`` (weights from ``seed``)."""
        st = self._state
        critic = st.get("critic")
        if critic is not None:
            if (critic.backend.name, tuple(critic.input_shape), critic.num_classes) != (
                model.backend.name, tuple(model.input_shape), model.num_classes
            ):
                raise ConfigError(
                    f"this adversary-critic objective trains a critic for {critic.backend.name} inputs "
                    f"{tuple(critic.input_shape)} with {critic.num_classes} classes, not for {model!r}; "
                    "make one objective per classifier"
                )
            return critic
        from sparring.core.registry import get_registry

        spec = get_registry().get_model(self.critic)
        params = _thaw(self.critic_params)
        dtype = getattr(model, "dtype", None)
        meta = {
            "input_shape": tuple(model.input_shape), "num_classes": model.num_classes,
            "value_range": tuple(model.value_range),
            "dtype": str(dtype).rsplit(".", 1)[-1] if dtype is not None else None,
        }
        for key, value in meta.items():
            if key in spec.params and key not in params and value is not None:
                params[key] = value
        critic = spec.create(params, backend=model.backend, seed=int(seed))
        if critic.num_classes != model.num_classes or tuple(critic.input_shape) != tuple(model.input_shape):
            raise ConfigError(
                f"critic {self.critic!r} was built for inputs {tuple(critic.input_shape)} with "
                f"{critic.num_classes} outputs; it needs {tuple(model.input_shape)} and {model.num_classes}"
            )
        if not hasattr(critic, "with_module") or not hasattr(critic, "module"):
            raise ConfigError(f"critic {self.critic!r} must be a sparring model wrapper (with .module)")
        critic.train()
        st["critic"] = critic
        st["optimizer"] = model.backend.optimizer(critic, name="adam", lr=self.critic_lr, betas=self.critic_betas)
        st["loss_fn"] = partial(critic_loss, lam_grad=self.lam_grad)
        st["conf_mean"] = None
        return critic

    @property
    def last_critic_loss(self) -> float | None:
        """The critic loss of the last critic step (before its update), None before any."""
        loss = self._state.get("critic_loss")
        return None if loss is None else float(self._state["critic"].backend.to_numpy(loss))

    @property
    def last_attack_success(self) -> float | None:
        """The fraction of the last critic batch whose attack reached its target, None before any."""
        value = self._state.get("attack_success")
        return None if value is None else float(self._state["critic"].backend.to_numpy(value))

    def state_numpy(self) -> dict[str, np.ndarray]:
        """The critic's weights, its optimiser state and the confidence means (for checkpoints)."""
        st = self._state
        if "critic" not in st:
            return {}
        out = {f"critic/{k}": v for k, v in st["critic"].parameters_numpy().items()}
        out.update({f"critic_optimizer/{k}": v for k, v in st["optimizer"].state_numpy().items()})
        if st.get("conf_mean") is not None:
            out["confidence_mean"] = np.array(st["conf_mean"])
        return out

    def load_state_numpy(self, model: Model, arrays: Mapping[str, np.ndarray]) -> None:
        """Restore what :meth:`state_numpy` wrote (building the critic for ``model`` if needed)."""
        critic = self.critic_for(model)
        critic.load_parameters({k[7:]: v for k, v in arrays.items() if k.startswith("critic/")})
        self._state["optimizer"].load_state_numpy(
            {k[17:]: v for k, v in arrays.items() if k.startswith("critic_optimizer/")}
        )
        mean = arrays.get("confidence_mean")
        self._state["conf_mean"] = None if mean is None else np.array(mean, dtype=np.float64)

    # -- the two phases ----------------------------------------------------------------------
    def _targets(self, model: Model, x: Array, y: Array, seed: int) -> tuple[Array, np.ndarray]:
        be = model.backend
        if self.target == "closest":
            targets, logits = closest_targets(model, x, y)
            return targets, be.to_numpy(logits)
        with be.no_grad():
            logits = be.to_numpy(model(x))
        k = model.num_classes
        offset = np.random.default_rng(seed).integers(1, k, size=logits.shape[0])
        return be.asarray((be.to_numpy(y) + offset) % k), logits

    def _confidences(self, logits: np.ndarray, y: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = logits.astype(np.float64)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        k = p.shape[1]
        pred, conf = p.argmax(axis=1), p.max(axis=1)
        counts = np.bincount(pred, minlength=k)
        sums = np.bincount(pred, weights=conf, minlength=k)
        mean = self._state.get("conf_mean")
        if mean is None:  # the first batch stands in for the thesis's pre-training epoch
            mean = np.where(counts > 0, sums / np.maximum(counts, 1), conf.mean())
        batch = np.where(counts > 0, sums / np.maximum(counts, 1), mean)
        mean = self._state["conf_mean"] = _CONF_DECAY * mean + (1.0 - _CONF_DECAY) * batch
        c_target = np.full(len(y), self.confidence) if self.confidence is not None else mean[targets]
        c_source = p[np.arange(len(y)), y]
        return np.clip(c_target, _MIN_CONF, 1.0), np.clip(c_source, _MIN_CONF, 1.0)

    def inputs(self, model: Model, x: Array, y: Array, seed: int, step: int) -> tuple[Array, ...]:
        """Targets, confidences and one critic step (Eq. 4.3); returns
        ``(targets, C_target, C_source, critic_module)`` for :meth:`objective`."""
        be = model.backend
        xp = be.xp
        critic = self.critic_for(model, seed)
        targets, logits = self._targets(model, x, y, seed)
        c_target, c_source = self._confidences(logits, be.to_numpy(y), be.to_numpy(targets))
        c_target, c_source = be.asarray(c_target, dtype=x.dtype), be.asarray(c_source, dtype=x.dtype)
        if self.lam or self.lam_cycle:
            x_adv = high_confidence_attack(model, x, targets, c_target, steps=self.steps, overshoot=self.overshoot,
                                           differentiable=False)
            with be.no_grad():
                hit = xp.argmax(model(x_adv), axis=1) == targets
            self._state["attack_success"] = xp.mean(xp.astype(hit, x.dtype))
            loss, _ = self._state["optimizer"].step(self._state["loss_fn"], x, y, be.stop_gradient(x_adv), targets,
                                                    hit)
            self._state["critic_loss"] = loss
        return targets, c_target, c_source, critic.module

    def objective(self, model: Model, x: Array, y: Array, *extra: Any) -> tuple[Array, Array]:
        targets, c_target, c_source, critic_module = extra
        be = model.backend
        xp = be.xp
        logits = model(x)
        loss = mean_ce(model, logits, y)
        if not (self.lam or self.lam_cycle):
            return loss, logits
        x_adv = high_confidence_attack(model, x, targets, c_target, steps=self.steps, overshoot=self.overshoot)
        hit = be.stop_gradient(xp.argmax(model(x_adv), axis=1) == targets)
        if self.lam:
            if "critic" not in self._state:
                raise ConfigError("adversary-critic: objective() takes the outputs of inputs(), which builds the critic")
            critic = self._state["critic"].with_module(critic_module)  # the module as passed: current weights
            z_adv = xp.sum(critic(x_adv) * one_hot(xp, targets, model.num_classes, x_adv.dtype), axis=1)
            loss = loss + self.lam * _masked_mean(xp, _softplus(xp, -z_adv), hit)
        if self.lam_cycle:
            x_back = high_confidence_attack(model, be.stop_gradient(x_adv), y, c_source, steps=self.steps,
                                            overshoot=self.overshoot)
            d = x_back - x
            dist = xp.sum(_flat(xp, d * d), axis=1) if self.cycle_squared else _norm(xp, d)
            loss = loss + self.lam_cycle * _masked_mean(xp, dist, hit)
        return loss, logits


def adversary_critic(
    lam: float = 0.5, lam_cycle: float = 1e-2, lam_grad: float = 10.0, steps: int = 5,
    confidence: float | None = None, overshoot: float = 0.05, target: str = "closest",
    cycle_squared: bool = False, critic: str = "dense", critic_params: Mapping[str, Any] | None = None,
    critic_lr: float = 1e-3,
) -> AdversaryCritic:
    return AdversaryCritic(lam=lam, lam_cycle=lam_cycle, lam_grad=lam_grad, steps=steps, confidence=confidence,
                           overshoot=overshoot, target=target, cycle_squared=cycle_squared, critic=critic,
                           critic_params=critic_params, critic_lr=critic_lr)
