"""Exit codes of the `trainer` commands, and run_guarded, which maps errors onto them.

The mapping (the only place it is decided):

- 0 (EXIT_OK): the command finished.
- 2 (EXIT_USAGE): ConfigError, the user's config, overrides or flags are wrong; fix the input.
- 1 (EXIT_RUNTIME): DataError, ExportError, CheckpointError (any other EngineError) and OSError:
  the input was well-formed but a file, data set or checkpoint could not be used.
- 130 (EXIT_INTERRUPTED): KeyboardInterrupt (Ctrl-C), as a shell reports a SIGINT exit (128 + 2).
- 1 (EXIT_RUNTIME) with "internal error: ...": any other exception, a bug rather than bad input.

Errors become one line on stderr; with `trainer --debug` they propagate with their traceback.
Importing this module loads neither numpy nor engine (engine loads when a command runs).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def exit_interrupted(signum: int, frame: object) -> None:
    """SIGINT while starting up or shutting down: exit 130 at once, without a traceback."""
    try:
        sys.stderr.write("interrupted\n")
        sys.stderr.flush()
    except Exception:  # noqa: BLE001, S110 - a half-written stream must not delay the exit
        pass
    os._exit(EXIT_INTERRUPTED)


exit_interrupted.early_exit = True  # type: ignore[attr-defined]  # found by run_guarded


def exit_code(exc: BaseException) -> int:
    """The exit code run_guarded gives for exc (see the mapping above)."""
    from engine.errors import ConfigError

    if isinstance(exc, ConfigError):
        return EXIT_USAGE
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, SystemExit):
        return exc.code if isinstance(exc.code, int) else EXIT_RUNTIME
    return EXIT_RUNTIME


def run_guarded(fn: Callable[[], Any], debug: bool) -> Any:
    """Call fn; turn library errors into one line on stderr and the documented exit code."""
    early = signal.getsignal(signal.SIGINT)
    if not getattr(early, "early_exit", False):
        return _call_guarded(fn, debug)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # commands see KeyboardInterrupt
    try:
        return _call_guarded(fn, debug)
    finally:
        signal.signal(signal.SIGINT, early)  # type: ignore[arg-type]


def _call_guarded(fn: Callable[[], Any], debug: bool) -> Any:
    import typer

    if debug:
        return fn()
    try:
        from engine.errors import ConfigError, EngineError
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None

    try:
        return fn()
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except (EngineError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_RUNTIME) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as exc:  # a bug, not bad input: say so, keep it to one line
        typer.echo(f"internal error: {type(exc).__name__}: {exc} (rerun as `trainer --debug "
                   "...` for the traceback)", err=True)
        raise typer.Exit(EXIT_RUNTIME) from None
