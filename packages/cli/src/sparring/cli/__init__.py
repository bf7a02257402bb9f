"""sparring.cli: the ``sparring`` command (``sparring --help``)."""

from .main import cli, main, plugins_report

__all__ = ["cli", "main", "plugins_report"]
