"""`python -m knowrl_cli`."""

from knowrl_cli.main import app

app()
