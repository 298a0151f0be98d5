# The two set-up commands of the README: `make up` and `make test`.
.PHONY: up down status test lint bootstrap bootstrap-test

up: bootstrap
	.venv/bin/liangfa up

down:
	.venv/bin/liangfa down

status:
	.venv/bin/liangfa status

# Two test processes, each with its own broker, registry, PostgreSQL and Chromium: the
# suite mostly waits on them (one process used ~30 % of two cores), so two halve its time.
# Whole files go to one process (--dist loadfile): a module's fixtures are made once.
test: bootstrap-test
	.venv/bin/pytest -n 2 --dist loadfile --durations=40

lint: bootstrap
	.venv/bin/ruff check hub connectors streams tests deploy
	.venv/bin/mypy
	.venv/bin/liangfa schemas check --offline
	.venv/bin/python scripts/check-module-size.py

bootstrap:
	scripts/bootstrap.sh

bootstrap-test:
	scripts/bootstrap.sh --test
