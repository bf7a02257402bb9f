"""``python -m sparring.cli`` runs the ``sparring`` command."""

from .main import main

main()
