"""``python -m streams run …``: start one stream worker."""

from streams.cli import app

if __name__ == "__main__":  # not when a spawned child process imports it again
    app(prog_name="python -m streams")
