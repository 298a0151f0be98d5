"""``python -m connectors run CONFIG [--once]``: the connector CLI without the hub's wiring."""

from connectors.cli import main

main()
