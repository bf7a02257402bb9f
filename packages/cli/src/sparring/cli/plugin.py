"""sparring.cli registers its built-in pipelines (TOML files shipped in this package)."""

from __future__ import annotations

from sparring.core import PipelineSpec, hookimpl

BUILTIN = {
    "quickstart": "Standard vs Algorithm-1 training of dense and S4D models on embedded MNIST digits; FGSM/PGD",
    "kasl-mnist": "Kasl Table 5.1: FF/GRU/LSTM/S4 x plain/robust/regularised/robust+regularised; PGD, FGSM",
    "matyasko-margin": "Matyasko Table 3.1: l2 / l1 margin maximisation vs plain and adversarial training",
    "volpato-gaussian": "Volpato: cross-entropy vs the Gaussian latent loss; FGSM accuracy vs eps",
    "slides-multiattack": "Robust-training slides: PGD/FGSM/MIM-AT, gradient regularisation, multi-attack",
    "pdpgd-eval": "Matyasko ch. 5: PDPGD vs PGD, C&W and DeepFool; accuracy at five thresholds, median norm",
    "kasl-gtsrb": "Kasl Table 5.3: FF / S4 on GTSRB x plain/robust/regularised/robust+regularised (needs GTSRB)",
    "kasl-speech": "Kasl Table 5.4: StackedModels on raw Speech Commands digits (needs Speech Commands)",
    "kasl-speech-mel": "Kasl Tables 5.5-5.6: Mel+dB front-end models on Speech Commands, Algorithms 1 and 2",
    "kasl-us8k": "Kasl Table 5.8: StackedModels on UrbanSound8K dangerous vs benign (needs UrbanSound8K)",
    "kasl-us8k-mel": "Kasl Tables 5.9-5.10: Mel+dB front-end models on UrbanSound8K, Algorithms 1 and 2 (+ regularised)",
}
"""Name -> summary of the pipelines shipped as ``pipelines/<name>.toml``."""


@hookimpl
def register_pipelines() -> list[PipelineSpec]:
    return [
        PipelineSpec(name=name, summary=summary, factory=f"sparring.cli.builtin:{name.replace('-', '_')}")
        for name, summary in BUILTIN.items()
    ]
