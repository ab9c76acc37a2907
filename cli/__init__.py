"""cli: the Typer application behind the `trm` console script (thin by design)."""
