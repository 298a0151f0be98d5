"""``python -m streams run …``: start one stream worker."""

from streams.cli import app

app(prog_name="python -m streams")
