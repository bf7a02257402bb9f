"""Attack throughput of sparring (torch, jax) side by side with torchattacks, Foolbox 3 and ART.

One trained model (dense-mnist, 784-256-256-10, trained on the embedded real MNIST
sample), one batch of real test digits, every library in the same run. For each
attack: samples/s after a warm-up call (and the first call's time: JAX compiles then),
the robust accuracy reached (clean-misclassified samples count as not robust), and
the ratio to the fastest peer library. Results printed as a table and saved as JSON.

Each library runs in a process of its own (``--same-process`` to run them all in this
one), and the libraries take turns: repeat 1 of every library, then repeat 2, ... In one
process torch's OpenMP threads keep spinning for a while after each call and take the
cores from XLA's threads in the jax call after it (2 cores: FGSM on jax ~3 ms slower
interleaved with torch than alone); each library in its own process, with a short call
(under 1 s) repeated once untimed before it is timed, meets a machine left as a user of
that library alone would have it. The time is taken in the library's process, without
sending the result back.

    uv sync --group peers
    uv run python benchmarks/attacks.py --n 1000 --out benchmarks/results/attacks-cpu.json
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import Timed, environment, mnist_sample, timed_interleaved, trained_dense, write_json

# attack -> hyper-parameters, identical for every library (no random start: deterministic,
# except APGD, whose random starts each library draws its own way)
SETTINGS: dict[str, dict[str, Any]] = {
    "fgsm": {"eps": 0.1},
    "pgd-40": {"eps": 0.1, "steps": 40, "step_size": 0.01},
    "mim-10": {"eps": 0.1, "steps": 10, "step_size": 0.01, "momentum": 1.0},
    "deepfool-l2": {"steps": 50, "overshoot": 0.02},  # minimum norm: no eps
    "apgd-100": {"eps": 0.1, "steps": 100, "loss": "ce"},
    # the reference defaults but 1,000 steps (not 10,000); minimum norm: no eps
    "cw-l2": {"binary_search_steps": 9, "steps": 1000, "initial_const": 1e-3, "lr": 0.01, "confidence": 0.0},
}
# what each peer library has: Foolbox 3 has no APGD; torchattacks's CW has no binary search
# over c (one fixed c), a different attack, so it is not timed against the others
PEER_ATTACKS = {
    "torchattacks": {"fgsm", "pgd-40", "mim-10", "deepfool-l2", "apgd-100"},
    "foolbox": {"fgsm", "pgd-40", "mim-10", "deepfool-l2", "cw-l2"},
    "art": {"fgsm", "pgd-40", "mim-10", "deepfool-l2", "apgd-100", "cw-l2"},
}


def sparring_runner(backend: str, weights: Path, device: str):
    from sparring.attacks import apgd, cw_l2, deepfool, fgsm, mim, pgd
    from sparring.models import build_model

    model = build_model("dense-mnist", backend=backend, device=device)
    model.load(weights)
    model.eval()
    be = model.backend

    def run(attack: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        s = SETTINGS[attack]
        xb, yb = be.asarray(x), be.asarray(y)
        if attack == "fgsm":
            r = fgsm(model, xb, yb, eps=s["eps"])
        elif attack == "pgd-40":
            r = pgd(model, xb, yb, eps=s["eps"], steps=s["steps"], step_size=s["step_size"])
        elif attack == "deepfool-l2":
            r = deepfool(model, xb, yb, norm="l2", steps=s["steps"], overshoot=s["overshoot"])
        elif attack == "apgd-100":
            r = apgd(model, xb, yb, eps=s["eps"], steps=s["steps"], loss=s["loss"])
        elif attack == "cw-l2":
            r = cw_l2(
                model, xb, yb, binary_search_steps=s["binary_search_steps"], steps=s["steps"],
                initial_const=s["initial_const"], lr=s["lr"], confidence=s["confidence"],
            )
        else:
            r = mim(model, xb, yb, eps=s["eps"], steps=s["steps"], step_size=s["step_size"], momentum=s["momentum"])
        return be.to_numpy(r.x_adv)

    def predict(x: np.ndarray) -> np.ndarray:
        with be.no_grad():
            return be.to_numpy(model(be.asarray(x))).argmax(1)

    return run, predict


def torch_module(weights: Path, device: str):
    """The trained net taking NCHW images (B, 1, 28, 28), the layout the peers assume."""
    import torch

    from sparring.models import build_model

    model = build_model("dense-mnist", backend="torch", device=device)
    model.load(weights)
    return torch.nn.Sequential(torch.nn.Flatten(1), model.module).eval()


def torchattacks_runner(weights: Path, device: str):
    import torch
    import torchattacks

    net = torch_module(weights, device)

    def run(attack: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        s = SETTINGS[attack]
        if attack == "fgsm":
            atk = torchattacks.FGSM(net, eps=s["eps"])
        elif attack == "pgd-40":
            atk = torchattacks.PGD(net, eps=s["eps"], alpha=s["step_size"], steps=s["steps"], random_start=False)
        elif attack == "deepfool-l2":
            atk = torchattacks.DeepFool(net, steps=s["steps"], overshoot=s["overshoot"])
        elif attack == "apgd-100":
            atk = torchattacks.APGD(net, norm="Linf", eps=s["eps"], steps=s["steps"], n_restarts=1, loss=s["loss"])
        else:
            atk = torchattacks.MIFGSM(net, eps=s["eps"], alpha=s["step_size"], steps=s["steps"], decay=s["momentum"])
        xt = torch.as_tensor(x[:, None], device=device)
        return atk(xt, torch.as_tensor(y, device=device))[:, 0].detach().cpu().numpy()

    return run


def foolbox_runner(weights: Path, device: str):
    import foolbox as fb
    import torch

    fmodel = fb.PyTorchModel(torch_module(weights, device), bounds=(0.0, 1.0), device=device)

    def run(attack: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        s = SETTINGS[attack]
        if attack == "fgsm":
            atk = fb.attacks.FGSM()
        elif attack == "pgd-40":
            atk = fb.attacks.LinfPGD(abs_stepsize=s["step_size"], steps=s["steps"], random_start=False)
        elif attack == "deepfool-l2":
            atk = fb.attacks.L2DeepFoolAttack(steps=s["steps"], overshoot=s["overshoot"], candidates=None)
        elif attack == "cw-l2":
            atk = fb.attacks.L2CarliniWagnerAttack(
                binary_search_steps=s["binary_search_steps"], steps=s["steps"], stepsize=s["lr"],
                confidence=s["confidence"], initial_const=s["initial_const"],
            )
        else:
            atk = fb.attacks.LinfMomentumIterativeFastGradientMethod(
                momentum=s["momentum"], abs_stepsize=s["step_size"], steps=s["steps"]
            )
        xt = torch.as_tensor(x[:, None], device=device)
        _, clipped, _ = atk(fmodel, xt, torch.as_tensor(y, device=device), epsilons=s.get("eps"))
        return clipped[:, 0].cpu().numpy()

    return run


def art_runner(weights: Path, device: str):
    import torch
    from art.attacks.evasion import (
        AutoProjectedGradientDescent,
        CarliniL2Method,
        DeepFool,
        FastGradientMethod,
        MomentumIterativeMethod,
        ProjectedGradientDescent,
    )
    from art.estimators.classification import PyTorchClassifier

    net = torch_module(weights, device)
    clf = PyTorchClassifier(net, loss=torch.nn.CrossEntropyLoss(), input_shape=(1, 28, 28), nb_classes=10,
                            clip_values=(0.0, 1.0), device_type="gpu" if device.startswith("cuda") else "cpu")

    def run(attack: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        s = SETTINGS[attack]
        n = len(x)
        if attack == "fgsm":
            atk = FastGradientMethod(clf, eps=s["eps"], batch_size=n)
        elif attack == "pgd-40":
            atk = ProjectedGradientDescent(clf, eps=s["eps"], eps_step=s["step_size"], max_iter=s["steps"],
                                           num_random_init=0, batch_size=n, verbose=False)
        elif attack == "mim-10":
            atk = MomentumIterativeMethod(clf, eps=s["eps"], eps_step=s["step_size"], max_iter=s["steps"],
                                          decay=s["momentum"], batch_size=n, verbose=False)
        elif attack == "deepfool-l2":
            atk = DeepFool(clf, max_iter=s["steps"], epsilon=s["overshoot"], nb_grads=10, batch_size=n, verbose=False)
        elif attack == "apgd-100":
            atk = AutoProjectedGradientDescent(clf, norm=np.inf, eps=s["eps"], eps_step=2 * s["eps"],
                                               max_iter=s["steps"], nb_random_init=1, batch_size=n,
                                               loss_type="cross_entropy", verbose=False)
        else:
            atk = CarliniL2Method(clf, confidence=s["confidence"], learning_rate=s["lr"],
                                  binary_search_steps=s["binary_search_steps"], max_iter=s["steps"],
                                  initial_const=s["initial_const"], batch_size=n, verbose=False)
        return atk.generate(x[:, None].astype(np.float32), y=np.asarray(y))[:, 0]

    return run


PEER_RUNNERS = {"torchattacks": torchattacks_runner, "foolbox": foolbox_runner, "art": art_runner}


def make_runner(name: str, weights: Path, device: str):
    """The ``run(attack, x, y) -> x_adv`` of library ``name``."""
    if name.startswith("sparring-"):
        backend = name.removeprefix("sparring-")
        return sparring_runner(backend, weights, device if backend == "torch" else jax_device(device))[0]
    return PEER_RUNNERS[name](weights, device)


def jax_device(device: str) -> str:
    return "gpu" if device.startswith("cuda") else "cpu"


def serve(conn: Any, name: str, weights: Path, device: str) -> None:
    """A library's process: runs the attacks asked for and answers ``(seconds, x_adv)``."""
    try:
        run = make_runner(name, weights, device)
    except ImportError as err:
        conn.send(err)
        return
    conn.send(None)
    last: dict[str, float] = {}  # attack -> seconds of its last call
    while (msg := conn.recv()) is not None:
        attack, x, y = msg
        try:
            if last.get(attack, float("inf")) < 1.0:
                run(attack, x, y)  # a short call: warm this process's threads first, untimed
            t0 = time.perf_counter()
            x_adv = run(attack, x, y)
            last[attack] = time.perf_counter() - t0
        except Exception as err:  # noqa: BLE001  (raised again in the main process)
            conn.send(err)
            continue
        conn.send((last[attack], x_adv))


class Isolated:
    """Library ``name`` in a process of its own (spawned: no state shared with this one)."""

    def __init__(self, name: str, weights: Path, device: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=serve, args=(child, name, weights, device), daemon=True)
        self.process.start()
        err = self.conn.recv()
        if err is not None:
            self.close()
            raise err

    def __call__(self, attack: str, x: np.ndarray, y: np.ndarray) -> Timed:
        self.conn.send((attack, x, y))
        answer = self.conn.recv()
        if isinstance(answer, Exception):
            raise answer
        return Timed(*answer)

    def close(self) -> None:
        if self.process.is_alive():
            self.conn.send(None)
            self.process.join(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="test digits attacked (at most 1000)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (jax uses gpu for cuda)")
    parser.add_argument("--attacks", default=",".join(SETTINGS))
    parser.add_argument("--libraries", default="sparring-torch,sparring-jax,torchattacks,foolbox,art",
                        help="comma-separated subset of the libraries to time")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per library after the first (taken in turn)")
    parser.add_argument("--same-process", action="store_true",
                        help="run every library in this process instead of one process each")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "attacks-cpu.json")
    args = parser.parse_args()
    unknown = sorted(set(args.attacks.split(",")) - set(SETTINGS))
    if unknown:
        parser.error(f"unknown attacks {', '.join(unknown)}; choose from {', '.join(SETTINGS)}")

    weights = trained_dense()
    _, _, x_test, y_test = mnist_sample()
    x, y = x_test[: args.n], y_test[: args.n]
    _, predict = sparring_runner("torch", weights, args.device)
    wanted = set(args.libraries.split(","))
    runners: dict[str, Any] = {}
    for name in ("sparring-torch", "sparring-jax", *PEER_RUNNERS):
        if name not in wanted:
            continue
        try:
            runners[name] = (make_runner if args.same_process else Isolated)(name, weights, args.device)
        except ImportError as err:
            print(f"skipping {name}: {err} (install with `uv sync --group peers`)")
    clean_acc = float((predict(x) == y).mean())
    print(f"dense-mnist on {len(x)} real MNIST test digits, clean accuracy {clean_acc:.1%}")

    rows = []
    for attack in args.attacks.split(","):
        results = {}
        calls = {name: (lambda run=run: run(attack, x, y)) for name, run in runners.items()
                 if attack in PEER_ATTACKS.get(name, SETTINGS)}
        # repeats taken in turn across libraries; a call over 30 s (torchattacks' DeepFool,
        # every C&W at 500 digits) is timed once
        for name, (first, median, x_adv) in timed_interleaved(calls, repeats=args.repeats).items():
            fooled = predict(x_adv) != y
            l2 = np.sqrt(((x_adv - x).reshape(len(x), -1).astype(np.float64) ** 2).sum(1))
            results[name] = {
                "first_s": first,
                "median_s": median,
                "samples_per_s": len(x) / median,
                "robust_accuracy": float((~fooled).mean()),
                "max_linf": float(np.abs(x_adv - x).max()),
                # minimum-norm attacks: the median L2 norm, unfooled samples counted as infinite
                "median_l2": float(np.median(np.where(fooled, l2, np.inf))),
            }
        peers = [r["median_s"] for n, r in results.items() if not n.startswith("sparring")]
        fastest_peer = min(peers) if peers else None
        for name, r in results.items():
            r["speedup_vs_fastest_peer"] = fastest_peer / r["median_s"] if fastest_peer else None
            rows.append({"attack": attack, "library": name, **r})

    header = "| attack | library | samples/s | first call s | robust acc | median L2 | speed-up vs fastest peer |"
    print(header)
    print("|" + "---|" * 7)
    for r in rows:
        ratio = f"{r['speedup_vs_fastest_peer']:.2f}x" if r["speedup_vs_fastest_peer"] else "-"
        print(f"| {r['attack']} | {r['library']} | {r['samples_per_s']:.0f} | {r['first_s']:.2f} | "
              f"{r['robust_accuracy']:.1%} | {r['median_l2']:.3f} | {ratio} |")
    for run in runners.values():
        if isinstance(run, Isolated):
            run.close()
    write_json(args.out, {"n": len(x), "device": args.device, "clean_accuracy": clean_acc,
                          "processes": "one per library" if not args.same_process else "one",
                          "settings": SETTINGS, "environment": environment(), "rows": rows})
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
