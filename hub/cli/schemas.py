"""``liangfa schemas list | register | check | catalogue``: the Avro contract's lifecycle.

``check`` is what CI and a developer run before merging a schema change: against the
registry (its compatibility endpoint gives the verdict, the hub's rules explain it field
by field), or ``--offline`` against the schema's committed git history. It exits 1 on a
break, naming schema and field, so a pipeline stops there.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from hub.config import HubSettings
from hub.errors import HubError
from hub.paths import package_root
from hub.registry import COMPATIBILITY_LEVELS, CompatibilityLevel, SchemaRegistryClient
from hub.schemas import (
    Incompatibility,
    local_schemas,
    offline_check,
    ordered_schemas,
    registry_check,
    render_catalogue,
    schema_files,
)
from hub.serde import subject_for

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="List, register and check the Avro schemas.")

RegistryUrl = Annotated[
    str | None, typer.Option("--registry-url", help="Registry base URL (default: settings).")
]
SchemasDir = Annotated[
    Path | None, typer.Option("--schemas-dir", help="Directory of .avsc files (default: "
                              "the shipped schemas/).")
]


def _client(url: str | None) -> SchemaRegistryClient:
    settings = HubSettings()
    return SchemaRegistryClient(url or settings.registry_url, auth=settings.registry_auth)


def _report(problems: list[Incompatibility]) -> None:
    for problem in problems:
        typer.echo(f"BREAK {problem}", err=True)


@app.command("list")
def list_schemas(
    schemas_dir: SchemasDir = None,
    registry: Annotated[bool, typer.Option("--registry", help="Also show registered "
                                           "versions and ids.")] = False,
    registry_url: RegistryUrl = None,
) -> None:
    """List the event schemas: full name, Chinese name, field count, file."""
    schemas = ordered_schemas(local_schemas(schemas_dir))
    files = schema_files(schemas_dir)
    registered: dict[str, str] = {}
    if registry:
        async def fetch() -> None:
            async with _client(registry_url) as client:
                for name in schemas:
                    versions = await client.versions(subject_for(name))
                    if versions:
                        latest = await client.get_latest(subject_for(name))
                        registered[name] = f"v{latest.version} id {latest.schema_id}"
                    else:
                        registered[name] = "not registered"

        asyncio.run(fetch())
    for name, schema in schemas.items():
        extra = f"  [{registered[name]}]" if registry else ""
        typer.echo(f"{name}  {schema.get('x-zh', '')}  {len(schema['fields'])} fields  "
                   f"{files[name].name}{extra}")


@app.command("register")
def register(
    schemas_dir: SchemasDir = None,
    registry_url: RegistryUrl = None,
    only: Annotated[list[str] | None, typer.Option("--only", help="Full Avro name to "
                                                   "register; repeatable.")] = None,
    compatibility: Annotated[str, typer.Option(help="Compatibility level set on each "
                                               "subject.")] = "BACKWARD_TRANSITIVE",
) -> None:
    """Check, then register every schema under its RecordNameStrategy subject."""
    if compatibility not in COMPATIBILITY_LEVELS:
        raise typer.BadParameter(f"{compatibility!r} is not one of {COMPATIBILITY_LEVELS}")
    level: CompatibilityLevel = compatibility  # type: ignore[assignment]
    schemas = ordered_schemas(local_schemas(schemas_dir))
    if only:
        unknown = sorted(set(only) - set(schemas))
        if unknown:
            raise typer.BadParameter(f"no schema named {', '.join(unknown)}")
        schemas = {name: schemas[name] for name in only}

    async def run() -> list[Incompatibility]:
        async with _client(registry_url) as client:
            problems = await registry_check(client, schemas)
            if problems:
                return problems
            for name, schema in schemas.items():
                subject = subject_for(name)
                schema_id = await client.register(subject, schema)
                if await client.get_compatibility(subject) != level:
                    await client.set_compatibility(level, subject)
                versions = await client.versions(subject)
                typer.echo(f"{subject}: id {schema_id}, {len(versions)} version(s), {level}")
        return []

    try:
        problems = asyncio.run(run())
    except HubError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if problems:
        _report(problems)
        typer.echo(f"{len(problems)} problem(s): nothing registered", err=True)
        raise typer.Exit(1)


@app.command("check")
def check(
    schemas_dir: SchemasDir = None,
    offline: Annotated[bool, typer.Option("--offline", help="Compare with the committed "
                                          "git history instead of the registry.")] = False,
    against: Annotated[str, typer.Option("--against", help="Git ref whose history the "
                                         "offline check compares with.")] = "HEAD",
    latest_only: Annotated[bool, typer.Option("--latest-only", help="Offline: only the "
                                              "version at --against, not all of "
                                              "its history.")] = False,
    registry_url: RegistryUrl = None,
) -> None:
    """Fail (exit 1) when a schema change breaks BACKWARD_TRANSITIVE compatibility."""
    try:
        if offline:
            problems = offline_check(schemas_dir, ref=against, latest_only=latest_only)
            where = f"git history of {against}"
        else:
            schemas = ordered_schemas(local_schemas(schemas_dir))

            async def run() -> list[Incompatibility]:
                async with _client(registry_url) as client:
                    return await registry_check(client, schemas)

            problems = asyncio.run(run())
            where = "the registry"
    except HubError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if problems:
        _report(problems)
        typer.echo(f"{len(problems)} compatibility problem(s) against {where}", err=True)
        raise typer.Exit(1)
    typer.echo(f"all schemas compatible with {where}")


def default_catalogue_path() -> Path:
    """Where the generated catalogue lives in a checkout."""
    return package_root() / "docs" / "events.md"


@app.command("catalogue")
def catalogue(
    schemas_dir: SchemasDir = None,
    output: Annotated[Path | None, typer.Option(help="Output file (default: "
                                                "docs/events.md).")] = None,
    check_only: Annotated[bool, typer.Option("--check", help="Exit 1 if the file is out "
                                             "of date instead of writing it.")] = False,
) -> None:
    """Generate the event catalogue (docs/events.md) from the schemas' docs and metadata."""
    target = output or default_catalogue_path()
    text = render_catalogue(ordered_schemas(local_schemas(schemas_dir)))
    if check_only:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            typer.echo(f"{target} is out of date: run `liangfa schemas catalogue`", err=True)
            raise typer.Exit(1)
        typer.echo(f"{target} is up to date")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {target}")
