"""`python -m flows COMMAND ...`"""

from flows.settings import apply_defaults

apply_defaults()

from flows.cli import main  # noqa: E402  (settings must precede Prefect's import)

raise SystemExit(main())
