"""The `trainer` command line: each command gathers options and calls a library function."""

from __future__ import annotations

import typer

from trainer import __version__

app = typer.Typer(
    name="trainer",
    help="Train, evaluate and export models described by YAML configs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"trainer {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Train, evaluate and export models described by YAML configs."""


def main() -> None:
    """Console-script entry point."""
    app()
