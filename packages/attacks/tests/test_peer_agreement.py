"""sparring's attacks against torchattacks's, on one small MNIST model, by robust accuracy.

One dense 784-64-10 trained for about a second on the embedded MNIST sample, 400 real
test digits, the same hyper-parameters in both libraries. Deterministic attacks agree
within half a point of robust accuracy; APGD (random starts) may differ, but sparring's
is no weaker than torchattacks's by more than one point (mean over six seeds each). Where the two differ by design
the test says how:

- PGD: sparring stops a sample at its first fooling iterate, torchattacks runs on (and
  may step back out); sparring can only be the stronger.
- DeepFool: torchattacks re-linearises from the clipped point and applies the overshoot
  to each step, without DeepFool's 1e-4; on digits whose pixels sit at 0 most of every
  step is clipped away and it stalls short of the boundary (43% robust where sparring
  finds every sample). On digits squeezed into [0.1, 0.9] the box does not bind: there
  the first step agrees and sparring's 50-step result is the same point or closer.
- C&W: torchattacks has one fixed c and no binary search, and stops on an increase of
  the batch's total loss; sparring runs with one search step at the same c and without
  its per-sample early abort.
"""

from __future__ import annotations

import numpy as np
import pytest

from sparring.attacks import accuracy_at_thresholds, apgd, cw_l2, deepfool, fgsm, mim, pgd

from attack_helpers import mnist_dense, mnist_test

torch = pytest.importorskip("torch")
torchattacks = pytest.importorskip("torchattacks")

pytestmark = pytest.mark.slow

N = 400  # half a point = 2 digits
EPS = 0.1


@pytest.fixture(scope="module")
def trained():
    model = mnist_dense("torch")
    x, y = mnist_test(N)
    net = torch.nn.Sequential(torch.nn.Flatten(1), model.module).eval()  # NCHW in, as torchattacks assumes
    return model, net, x, y


def _predict(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.as_tensor(x)).argmax(1).numpy()


def _robust(model, x: np.ndarray, x_adv: np.ndarray, y: np.ndarray) -> float:
    """Correct on the clean digit and on the attacked one."""
    return float(((_predict(model, x) == y) & (_predict(model, x_adv) == y)).mean())


def _peer(attack, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return attack(torch.as_tensor(x[:, None]), torch.as_tensor(y))[:, 0].detach().numpy()


def _ours(attack, model, x: np.ndarray, y: np.ndarray, **kwargs):
    return attack(model, x, y, **kwargs).x_adv.numpy()


FIXED = {  # name: (sparring call, torchattacks attack)
    "fgsm": (lambda m, x, y: _ours(fgsm, m, x, y, eps=EPS), lambda net: torchattacks.FGSM(net, eps=EPS)),
    "pgd": (
        lambda m, x, y: _ours(pgd, m, x, y, eps=EPS, steps=20, step_size=0.01),
        lambda net: torchattacks.PGD(net, eps=EPS, alpha=0.01, steps=20, random_start=False),
    ),
    "mim": (
        lambda m, x, y: _ours(mim, m, x, y, eps=EPS, steps=10, step_size=0.01, momentum=1.0),
        lambda net: torchattacks.MIFGSM(net, eps=EPS, alpha=0.01, steps=10, decay=1.0),
    ),
}


@pytest.mark.parametrize("name", list(FIXED))
def test_fixed_eps_attacks_agree(trained, name: str) -> None:
    model, net, x, y = trained
    ours, peer = FIXED[name]
    x_ours, x_peer = ours(model, x, y), _peer(peer(net), x, y)
    assert np.abs(x_ours - x).max() <= EPS + 1e-6
    r_ours, r_peer = _robust(model, x, x_ours, y), _robust(model, x, x_peer, y)
    assert abs(r_ours - r_peer) <= 0.005, (r_ours, r_peer)
    assert r_ours <= r_peer  # early stop never makes sparring weaker
    assert r_ours < (_predict(model, x) == y).mean()  # the attack does something


@pytest.mark.parametrize("loss", ["ce", "dlr"])
def test_apgd_is_no_weaker(trained, loss: str) -> None:
    """Mean robust accuracy over six seeds: one seed's result spreads over about a point."""
    model, net, x, y = trained
    seeds = range(6)
    r_ours = np.mean([_robust(model, x, _ours(apgd, model, x, y, eps=EPS, steps=20, loss=loss, seed=s), y)
                      for s in seeds])
    r_peer = np.mean([_robust(model, x, _peer(torchattacks.APGD(net, eps=EPS, steps=20, loss=loss, seed=s), x, y), y)
                      for s in seeds])
    assert r_ours <= r_peer + 0.01, (r_ours, r_peer)
    assert r_ours < (_predict(model, x) == y).mean()


def test_deepfool_agrees_where_the_box_does_not_bind(trained) -> None:
    model, net, x, y = trained
    x = (0.1 + 0.8 * x).astype(np.float32)  # no pixel at a bound of [0, 1]
    # one step: the same linearisation and the same step (up to DeepFool's 1e-4)
    one_ours = _ours(deepfool, model, x, y, steps=1, overshoot=0.02)
    one_peer = _peer(torchattacks.DeepFool(net, steps=1, overshoot=0.02), x, y)
    assert abs(_robust(model, x, one_ours, y) - _robust(model, x, one_peer, y)) <= 0.005
    np.testing.assert_allclose(one_ours, one_peer, atol=1e-4)
    # fifty steps: the same points, where torchattacks's stall just short of the boundary
    ours = _ours(deepfool, model, x, y, steps=50, overshoot=0.02)
    peer = _peer(torchattacks.DeepFool(net, steps=50, overshoot=0.02), x, y)
    np.testing.assert_allclose(ours, peer, atol=1e-3)
    assert _robust(model, x, ours, y) <= _robust(model, x, peer, y)


def test_cw_agrees_at_one_const(trained) -> None:
    model, net, x, y = trained
    ours = cw_l2(model, x, y, initial_const=10.0, binary_search_steps=1, steps=100, lr=0.01, abort_early=False)
    x_peer = _peer(torchattacks.CW(net, c=10.0, kappa=0, steps=100, lr=0.01), x, y)
    assert abs(_robust(model, x, ours.x_adv.numpy(), y) - _robust(model, x, x_peer, y)) <= 0.005
    # robust accuracy at L2 thresholds, from the returned perturbations (clean errors: norm 0)
    fooled_peer = _predict(model, x_peer) != y
    norms_peer = np.sqrt(((x_peer - x).reshape(N, -1).astype(np.float64) ** 2).sum(1))
    thresholds = [0.5, 1.0, 1.5, 2.0, 3.0]
    acc_ours = accuracy_at_thresholds(ours.norms.numpy(), ours.success.numpy(), thresholds)
    acc_peer = accuracy_at_thresholds(norms_peer, fooled_peer, thresholds)
    np.testing.assert_allclose(acc_ours, acc_peer, atol=0.005)
