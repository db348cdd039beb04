"""Prefect flows: curation, portrait jobs, re-runs. `python -m flows --help` lists the commands."""
