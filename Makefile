# The two set-up commands of the README: `make up` and `make test`.
.PHONY: up down status test lint bootstrap bootstrap-test

up: bootstrap
	.venv/bin/liangfa up

down:
	.venv/bin/liangfa down

status:
	.venv/bin/liangfa status

test: bootstrap-test
	.venv/bin/pytest --durations=40

lint: bootstrap
	.venv/bin/ruff check hub connectors streams tests deploy
	.venv/bin/mypy
	.venv/bin/liangfa schemas check --offline
	.venv/bin/python scripts/check-module-size.py

bootstrap:
	scripts/bootstrap.sh

bootstrap-test:
	scripts/bootstrap.sh --test
