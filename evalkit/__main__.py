"""``python -m evalkit``: the same as the ``evalkit`` console script."""

from evalkit.cli import main

main()
