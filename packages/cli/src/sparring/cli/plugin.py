"""sparring.cli registers its built-in pipelines (TOML files shipped in this package)."""

from __future__ import annotations

from sparring.core import PipelineSpec, hookimpl

BUILTIN = {
    "quickstart": "Standard vs Algorithm-1 training of dense and S4D models on embedded MNIST digits; FGSM/PGD",
}


@hookimpl
def register_pipelines() -> list[PipelineSpec]:
    return [
        PipelineSpec(name=name, summary=summary, factory=f"sparring.cli.builtin:{name.replace('-', '_')}")
        for name, summary in BUILTIN.items()
    ]
