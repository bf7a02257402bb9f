"""The ``sparring`` command."""

from __future__ import annotations

import importlib.metadata as metadata
import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from sparring.core.errors import SparringError
from sparring.core.hookspecs import HOOKS
from sparring.core.registry import Registry, get_registry

__all__ = ["main", "cli"]


def _versions() -> dict[str, str]:
    out = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] or ""
        if name.startswith("sparring"):
            out[name] = dist.version
    return dict(sorted(out.items()))


def _version_text() -> str:
    versions = _versions()
    lines = [f"sparring {versions.get('sparring-cli', '?')}"]
    lines += [f"  {name} {v}" for name, v in versions.items()]
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def plugins_report(registry: Registry, *, load: bool = False) -> dict[str, Any]:
    """Everything ``sparring plugins`` shows, as plain data (what ``--json`` prints)."""
    parts: dict[str, list[dict[str, Any]]] = {}
    for kind in HOOKS:
        rows = []
        for name, spec in registry.specs(kind).items():
            plugin = registry.provider(kind, name)
            row = {
                "name": name,
                "summary": spec.summary,
                "backends": list(spec.backends),
                "params": _jsonable(dict(spec.params)),
                "factory": spec.factory,
                "distribution": plugin.distribution,
                "status": "ok",
                "error": None,
            }
            if load:
                try:
                    spec.load()
                except SparringError as err:
                    row["status"], row["error"] = "broken", str(err)
            rows.append(row)
        parts[kind] = rows
    return {
        "versions": _versions(),
        "plugins": [
            {
                "name": p.name,
                "distribution": p.distribution,
                "version": p.version,
                "module": p.module,
                "status": p.status,
                "error": p.error,
                "registered": p.registered,
            }
            for p in registry.plugins()
        ],
        "parts": parts,
        "conflicts": [
            {"kind": c.kind, "name": c.name, "providers": list(c.providers), "error": str(c)}
            for c in registry.conflicts()
        ],
    }


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(message="%(version)s", version=_version_text(), package_name="sparring-cli")
def cli() -> None:
    """sparring: attack and harden neural-network classifiers, on PyTorch and JAX."""


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--load", is_flag=True, help="Also import every factory and report those that fail.")
@click.option("--check", is_flag=True, help="Exit with status 1 if any plugin is broken or any name is claimed twice.")
def plugins(as_json: bool, load: bool, check: bool) -> None:
    """List every registered backend, model, dataset, attack, defense and pipeline."""
    report = plugins_report(get_registry(), load=load)
    problems = (
        [p for p in report["plugins"] if p["status"] != "ok"]
        + report["conflicts"]
        + [r for rows in report["parts"].values() for r in rows if r["status"] != "ok"]
    )
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        _print_report(report)
    if check and problems:
        sys.exit(1)


def _print_report(report: dict[str, Any]) -> None:
    console = Console(soft_wrap=True)
    table = Table(title="plugins", show_lines=False)
    for col in ("plugin", "distribution", "version", "status", "registered / error"):
        table.add_column(col)
    for p in report["plugins"]:
        detail = p["error"] or ", ".join(f"{len(v)} {k}s" for k, v in p["registered"].items()) or "nothing"
        status = "[green]ok[/]" if p["status"] == "ok" else "[red]broken[/]"
        table.add_row(p["name"], p["distribution"], p["version"], status, detail)
    console.print(table)
    for kind, rows in report["parts"].items():
        t = Table(title=f"{kind}s ({len(rows)})")
        for col in ("name", "backends", "distribution", "status", "summary"):
            t.add_column(col)
        for r in rows:
            status = "[green]ok[/]" if r["status"] == "ok" else f"[red]broken[/] {r['error']}"
            t.add_row(r["name"], ",".join(r["backends"]) or "any", r["distribution"], status, r["summary"])
        console.print(t)
    for c in report["conflicts"]:
        console.print(f"[red]conflict[/]: {c['error']}")


def _resolve_pipeline(pipeline: str, overrides: list[str]) -> Any:
    """A TOML path, or the name of a registered pipeline, as a validated config."""
    from sparring.core.config import load_pipeline

    if pipeline.endswith(".toml") or Path(pipeline).is_file():
        return load_pipeline(Path(pipeline), overrides=overrides)
    spec = get_registry().get("pipeline", pipeline)
    source = spec.load()()
    return load_pipeline(source, overrides=overrides, origin=f"pipeline {pipeline!r}")


class _Terminated(SparringError):
    """SIGTERM arrived: the run stops at once; finished stages and checkpoints stay."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated("the run was terminated (SIGTERM); continue it with --resume and the same --out")


@cli.command()
@click.argument("pipeline")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a setting, e.g. --set train.epochs=3 --set 'attacks[0].eps=[0.1]'.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run directory (default: runs/<pipeline name>, or a fresh runs/<name>-N).")
@click.option("--resume", is_flag=True, help="Continue the run in --out, skipping its finished stages.")
@click.option("--device", default=None, help="cpu, cuda or gpu (overrides the pipeline's device).")
@click.option("--backend", type=click.Choice(["torch", "jax"]), default=None, help="Framework to run on.")
@click.option("--check", is_flag=True, help="Only validate the pipeline (keys, types, plugin names) and print it.")
def run(pipeline: str, overrides: tuple[str, ...], out: str | None, resume: bool, device: str | None,
        backend: str | None, check: bool) -> None:
    """Run PIPELINE (a registered name such as quickstart, or a .toml file) into a run directory."""
    import signal

    from .rundir import RunDir
    from .runner import run_pipeline

    sets = list(overrides)
    if device is not None:
        sets.append(f"device={json.dumps(device)}")
    if backend is not None:
        sets.append(f"backend={json.dumps(backend)}")
    cfg = _resolve_pipeline(pipeline, sets)
    if check:
        from sparring.core.config import dump_toml

        from .runner import check_pipeline

        check_pipeline(cfg)
        click.echo(dump_toml(cfg))
        return
    run_dir = RunDir.choose(out, cfg.name, resume=resume)
    console = Console(stderr=True)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        click.echo(f"run directory: {run_dir.root}", err=True)
        progress = _progress(console) if console.is_terminal else None
        run_pipeline(cfg, run_dir, resume=resume, log=lambda m: console.print(m, highlight=False),
                     progress=progress)
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo((run_dir.root / "results.md").read_text(encoding="utf-8"))
    click.echo(f"written: {run_dir.root}/results.md, results.csv, *.png, config.toml, metrics.jsonl", err=True)


def _progress(console: Console) -> Any:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TextColumn("{task.fields[note]}"), TimeRemainingColumn(), console=console, transient=True)
    tasks: dict[str, Any] = {}

    def update(description: str, done: int, total: int, note: str = "") -> None:
        """One bar per description (a training epoch, a model's attacks), removed when full."""
        if not bar.live.is_started:
            bar.start()
        if description not in tasks:
            tasks[description] = bar.add_task(description, total=total, note=note)
        bar.update(tasks[description], completed=done, note=note)
        if done >= total:
            bar.remove_task(tasks.pop(description))

    return update


@cli.command()
@click.argument("pipeline")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a setting (as for run).")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Run directory (as for run).")
@click.option("--resume", is_flag=True, help="Continue the training in --out.")
@click.option("--device", default=None, help="cpu, cuda or gpu (overrides the pipeline's device).")
@click.option("--backend", type=click.Choice(["torch", "jax"]), default=None, help="Framework to run on.")
@click.pass_context
def train(ctx: click.Context, pipeline: str, overrides: tuple[str, ...], out: str | None, resume: bool,
          device: str | None, backend: str | None) -> None:
    """Train the models of PIPELINE with its defenses, without attacking them.

    The run directory gets the weights (models/*.safetensors), the training curves and
    a table of clean test accuracy; attack them later with `sparring attack RUN_DIR`.
    """
    ctx.invoke(run, pipeline=pipeline, overrides=(*overrides, "attacks=[]"), out=out, resume=resume, device=device,
               backend=backend, check=False)


@cli.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--attack", "attacks", multiple=True, metavar="NAME",
              help="Registered attack to run (repeatable); replaces the config's attacks.")
@click.option("--eps", "eps", multiple=True, type=float, help="Budget for every --attack (repeatable).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Parameter of every --attack.")
@click.option("--pipeline", default=None, help="For a .safetensors SOURCE: the pipeline (.toml or name) with its model "
              "and dataset.")
@click.option("--model", "model_label", default=None,
              help="Which [[models]] label to attack (default: all / the only).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a setting, e.g. evaluation.size=200.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the tables go (default: SOURCE/attacks for a run directory).")
@click.option("--backend", type=click.Choice(["torch", "jax"]), default=None, help="Framework to run on.")
@click.option("--device", default=None, help="cpu, cuda or gpu.")
def attack(source: Path, attacks: tuple[str, ...], eps: tuple[float, ...], params: tuple[str, ...],
           pipeline: str | None, model_label: str | None, overrides: tuple[str, ...], out: Path | None,
           backend: str | None, device: str | None) -> None:
    """Attack saved weights: SOURCE is a run directory or a .safetensors file.

    Prints the robust-accuracy table and writes it (CSV and markdown) to --out.
    """
    from .attack_saved import attack_overrides, attack_saved, load_config

    sets = attack_overrides(attacks, eps, params) + list(overrides)
    if device is not None:
        sets.append(f"device={json.dumps(device)}")
    if backend is not None:
        sets.append(f"backend={json.dumps(backend)}")
    cfg = load_config(source, pipeline, sets, _resolve_pipeline)
    console = Console(stderr=True)
    rows = attack_saved(cfg, source, model_label=model_label, out=out,
                        log=lambda m: console.print(m, highlight=False),
                        progress=_progress(console) if console.is_terminal else None)
    from .report import markdown_table

    click.echo(markdown_table(rows))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def pipelines(as_json: bool) -> None:
    """List the registered pipelines (run one with `sparring run NAME`)."""
    rows = [{"name": n, "summary": s.summary, "distribution": get_registry().provider("pipeline", n).distribution}
            for n, s in get_registry().specs("pipeline").items()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="pipelines")
    for col in ("name", "distribution", "summary"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["distribution"], r["summary"])
    Console(soft_wrap=True).print(table)


@cli.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
def report(run_dir: str) -> None:
    """Re-render the tables and plots of RUN_DIR from its saved results."""
    from .report import rerender

    rerender(run_dir)
    click.echo((Path(run_dir) / "results.md").read_text(encoding="utf-8"))


def main() -> None:
    """Entry point: sparring errors become one clear line and exit status 2."""
    try:
        cli(standalone_mode=True)
    except SparringError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
