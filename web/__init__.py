"""The web app and HTTP API for portrait jobs (`python -m flows serve`), on a Prefect job queue."""
