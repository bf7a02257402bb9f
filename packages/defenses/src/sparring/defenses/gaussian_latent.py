"""Gaussian latent loss (RegNet covariance loss with kurtosis correction, Volpato thesis Eq. 2.6).

The logits ``z ∈ R^d`` (d = number of classes) are the latent space; class k is mapped
onto the target ``N(μ_T e_k, σ_T² I)``. For each class k present in the batch, with the
empirical mean ``μ_O`` and covariance ``Σ_O`` of its latents,

    L_k = KL( N(μ_O, Σ_O) || N(μ_T e_k, σ_T² I) )
        = ½ [ log |σ_T² I| / |Σ_O| - d + tr(Σ_O) / σ_T² + ‖μ_T e_k - μ_O‖² / σ_T² ]   (Eq. 2.1)
    K_k = (1/d) Σ_i  mean_{n ∈ k} ( (z_{n,i} - μ_{O,i}) / σ_{O,i} )⁴                      (Eq. 2.5)
    L   = Σ_k [ L_k + F_k · |K_k - 3| ]                                                    (Eq. 2.6)

K_k is the per-dimension (marginal) kurtosis averaged over the d dimensions, not Mardia's
multivariate kurtosis: Eq. 2.5 standardises each coordinate by its own σ_{O,i} and the
text calls it "the standard formula for the kurtosis", 3 for a univariate normal, and
averages kurtosis "across all classes and dimensions" (section 2.3.2). Prediction is
``argmax z`` (the class whose target coordinate is largest), so the logits are returned
unchanged and accuracy works as for any classifier.

Defaults: F_k = 0.2, σ_T = 1 (every experiment of the thesis); μ_T = 10 (MNIST) — the
thesis also trains with μ_T = 70 (MNIST and CIFAR-10, sections 2.x and 3.3) and sweeps
μ_T ∈ [5, 300]. The batch statistics are computed in float64 and the loss cast back to
the logits' dtype (the thesis fixed NaNs of the determinant this way, line 1058).

Reference: L. Volpato, "Neural Networks for image classification: An approach to
adversarial perturbations robustness" (MSc thesis, Politecnico di Torino, 2019;
``references/volpato-2019-gaussian-latent-thesis.txt``): Eq. 2.1 (line 457), 2.5 (line 459), 2.6
(line 461); loss of M. Testa et al., "Learning mappings onto regularized latent spaces
for biometric authentication", arXiv:1911.08764.

Notes
-----
- Eq. 2.1 is printed with a prefactor "1/x"; the bracket is twice the Gaussian KL
  divergence, so the prefactor is read as ½ (the KL of Testa et al.).
- Eq. 2.6 is printed as ``F_k (K_i - 3)``, but the text right after it says the minimum
  is reached only when ``K_i = 3`` for every class, which holds for ``|K_i - 3|`` and not
  for the signed term (whose minimum is at the smallest possible kurtosis, 1). The
  absolute value is implemented.
- Σ_O and the moments use the 1/n normalisation (the maximum-likelihood Gaussian of the
  batch's latents of the class, and the usual sample kurtosis).
- Small classes (not specified by the thesis, which trains with batches of 200 for 10
  classes). ``ridge · I`` is added to every Σ_O (log-determinant, trace and the σ_{O,i}
  of the kurtosis alike), so the loss is that of ``N(μ_O, Σ_O + ridge·I)``. A class with
  n ≤ d samples has a singular Σ_O: its log-determinant is then ``(d - r) log(ridge)``
  plus the log of its r non-zero eigenvalues, a constant offset in the loss value that
  leaves the gradients finite. Classes with fewer than ``min_class_samples`` samples in
  the batch (and absent classes) are left out of the sum. ``inputs`` (run eagerly before
  each step) raises ConfigError when no class of a batch has that many samples.
- On jax without ``jax_enable_x64`` float64 does not exist and the statistics stay in
  float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sparring.attacks.losses import one_hot
from sparring.core.errors import ConfigError
from sparring.core.protocols import Array, Model

from .base import Objective, check_eps

__all__ = ["GaussianLatent", "gaussian_latent", "gaussian_latent_terms", "gaussian_latent_loss"]


def _wide(xp: Any) -> Any:
    """float64 where the namespace has it (jax without x64 gives float32, silently)."""
    return xp.asarray(np.zeros((), dtype=np.float64)).dtype


def gaussian_latent_terms(
    xp: Any, z: Array, y: Array, *, mu_target: float = 10.0, sigma_target: float = 1.0, ridge: float = 1e-4,
    min_class_samples: int = 2,
) -> tuple[Array, Array, Array]:
    """Per-class ``(KL_k, K_k, used_k)``, each of shape ``(d,)``, in float64 (see the module).

    ``z`` is ``(B, d)`` with one latent dimension per class, ``y`` the ``(B,)`` labels.
    ``used_k`` is True for the classes with at least ``min_class_samples`` samples;
    KL_k and K_k of the other classes are finite placeholders.
    """
    b, d = z.shape
    wide = _wide(xp)
    zw = xp.astype(z, wide)  # (B, d)
    member = one_hot(xp, y, d, wide)  # (B, C), C = d
    count = xp.sum(member, axis=0)  # (C,)
    used = count >= min_class_samples  # (C,)
    n = xp.where(count > 0, count, 1.0)  # (C,)
    member_t = xp.permute_dims(member, (1, 0))  # (C, B)
    mu = xp.matmul(member_t, zw) / n[:, None]  # (C, d): μ_O per class
    centred = (zw[None, :, :] - mu[:, None, :]) * member_t[:, :, None]  # (C, B, d), 0 outside the class
    cov = xp.matmul(xp.permute_dims(centred, (0, 2, 1)), centred) / n[:, None, None]  # (C, d, d): Σ_O
    eye = xp.eye(d, dtype=wide, device=getattr(z, "device", None))  # (d, d)
    cov = xp.where(used[:, None, None], cov + ridge * eye, eye)  # unused classes: I keeps Cholesky finite
    chol = xp.linalg.cholesky(cov)  # (C, d, d)
    logdet = 2.0 * xp.sum(xp.log(xp.sum(chol * eye, axis=-1)), axis=-1)  # (C,)
    var = xp.sum(cov * eye, axis=-1)  # (C, d): diagonal of Σ_O (+ ridge)
    s2 = float(sigma_target) ** 2
    gap = mu_target * eye - mu  # (C, d): μ_T e_k - μ_O
    kl = 0.5 * (d * float(np.log(s2)) - logdet - d + xp.sum(var, axis=-1) / s2 + xp.sum(gap * gap, axis=-1) / s2)
    fourth = xp.sum(centred**4, axis=1) / n[:, None]  # (C, d): 4th central moment per dimension
    kurtosis = xp.mean(fourth / (var * var), axis=-1)  # (C,)
    return kl, kurtosis, used


def gaussian_latent_loss(
    xp: Any, z: Array, y: Array, *, mu_target: float = 10.0, kurtosis_weight: float = 0.2,
    sigma_target: float = 1.0, ridge: float = 1e-4, min_class_samples: int = 2,
) -> Array:
    """``Σ_k [KL_k + F_k |K_k - 3|]`` over the classes used, a scalar in ``z``'s dtype."""
    kl, kurtosis, used = gaussian_latent_terms(
        xp, z, y, mu_target=mu_target, sigma_target=sigma_target, ridge=ridge, min_class_samples=min_class_samples
    )
    per_class = xp.where(used, kl + kurtosis_weight * xp.abs(kurtosis - 3.0), 0.0)
    return xp.astype(xp.sum(per_class), z.dtype)


@dataclass(frozen=True)
class GaussianLatent(Objective):
    """Volpato's Eq. 2.6 on the logits (see the module docstring).

    Args:
        mu_target: μ_T, the target mean's coordinate on the class's own axis (10 for MNIST,
            70 for CIFAR-10 in the thesis).
        kurtosis_weight: F_k, the weight of ``|K_k - 3|`` (0.2; 0 gives Eq. 2.1-2.2 alone).
        sigma_target: σ_T, the target standard deviation of every coordinate (1).
        ridge: added to the diagonal of each class covariance Σ_O (> 0 keeps the
            log-determinant finite for classes with at most d samples in the batch).
        min_class_samples: classes with fewer samples in the batch are left out (>= 2).
    """

    mu_target: float = 10.0
    kurtosis_weight: float = 0.2
    sigma_target: float = 1.0
    ridge: float = 1e-4
    min_class_samples: int = 2

    def __post_init__(self) -> None:
        for name, positive in (("mu_target", True), ("kurtosis_weight", False), ("sigma_target", True),
                               ("ridge", False)):
            object.__setattr__(self, name, check_eps(name, getattr(self, name), positive=positive))
        m = self.min_class_samples
        if isinstance(m, bool) or not isinstance(m, int) or m < 2:
            raise ConfigError(
                f"min_class_samples must be an integer >= 2 (a variance needs two samples), got {m!r}"
            )

    def _check_batch(self, model: Model, x: Array) -> None:
        if x.shape[0] < self.min_class_samples:
            raise ConfigError(
                f"gaussian-latent: a batch of {x.shape[0]} samples cannot hold {self.min_class_samples} samples "
                "of one class; raise the batch size (the thesis uses 200 for 10 classes)"
            )

    def inputs(self, model: Model, x: Array, y: Array, seed: int, step: int) -> tuple[Array, ...]:
        self._check_batch(model, x)
        counts = np.bincount(np.asarray(model.backend.to_numpy(y)).reshape(-1), minlength=model.num_classes)
        if counts.max(initial=0) < self.min_class_samples:
            raise ConfigError(
                f"gaussian-latent: no class has {self.min_class_samples} samples in this batch (counts per "
                f"class: {counts.tolist()}), so no class statistics exist; raise the batch size or lower "
                "min_class_samples"
            )
        return ()

    def objective(self, model: Model, x: Array, y: Array, *extra: Array) -> tuple[Array, Array]:
        self._check_batch(model, x)
        xp = model.backend.xp
        logits = model(x)
        if logits.shape[1] != model.num_classes:
            raise ConfigError(
                f"gaussian-latent needs one latent dimension per class: logits of width {logits.shape[1]} "
                f"for {model.num_classes} classes"
            )
        loss = gaussian_latent_loss(
            xp, logits, y, mu_target=self.mu_target, kurtosis_weight=self.kurtosis_weight,
            sigma_target=self.sigma_target, ridge=self.ridge, min_class_samples=self.min_class_samples,
        )
        return loss, logits


def gaussian_latent(mu_target: float = 10.0, kurtosis_weight: float = 0.2, sigma_target: float = 1.0,
                    ridge: float = 1e-4, min_class_samples: int = 2) -> GaussianLatent:
    return GaussianLatent(mu_target=mu_target, kurtosis_weight=kurtosis_weight, sigma_target=sigma_target,
                          ridge=ridge, min_class_samples=min_class_samples)
