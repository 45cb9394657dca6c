"""The `trainer` command line: each command gathers options and calls a library function.

Nothing heavy is imported at module level (no engine, numpy or rich) so `trainer --help` is fast.
"""

from __future__ import annotations

import os
import signal
import sys


def _exit_interrupted(signum: int, frame: object) -> None:
    """SIGINT while starting up or shutting down: exit 130 at once, without a traceback."""
    try:
        sys.stderr.write("interrupted\n")
        sys.stderr.flush()
    except Exception:  # noqa: BLE001, S110 - a half-written stream must not delay the exit
        pass
    os._exit(130)


_exit_interrupted.early_exit = True  # type: ignore[attr-defined]  # found by run_guarded

# First thing when this is the program (python -m trainer.cli, or the `trainer` script): a
# Ctrl-C during the imports below or typer's parsing exits 130, not with a traceback.
# run_guarded hands SIGINT back to Python (KeyboardInterrupt) while a command runs.
if (__name__ == "__main__" or os.path.basename(sys.argv[0]) == "trainer") and \
        signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, _exit_interrupted)

from collections.abc import Callable  # noqa: E402
from enum import StrEnum  # noqa: E402
from typing import Annotated, Any  # noqa: E402

import typer  # noqa: E402

from trainer import __version__  # noqa: E402
from trainer.options import Which  # noqa: E402

app = typer.Typer(
    name="trainer",
    help="Train, evaluate and export models described by YAML configs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rendering it with rich costs ~0.4 s of imports
)

EXIT_RUNTIME, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class ProgressMode(StrEnum):
    auto = "auto"
    bar = "bar"
    log = "log"
    none = "none"


class Device(StrEnum):
    cpu = "cpu"
    cuda = "cuda"


class Split(StrEnum):
    test = "test"
    val = "val"


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
        typer.echo(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the "
                   "traceback)", err=True)
        raise typer.Exit(EXIT_RUNTIME) from None


@app.command()
def train(
    config: Annotated[str, typer.Argument(
        metavar="CONFIG", help="YAML config, e.g. configs/mnist.yaml.")],
    overrides: Annotated[list[str] | None, typer.Argument(
        metavar="[KEY=VALUE]...",
        help="KEY=VALUE overrides, e.g. optimizer.lr=0.01 train.epochs=3.")] = None,
    resume: Annotated[str | None, typer.Option(
        "--resume", help="Continue RUN_DIR from its checkpoints/last.")] = None,
    run_dir: Annotated[str | None, typer.Option(
        "--run-dir", help="Write the run into this folder.")] = None,
    device: Annotated[Device | None, typer.Option(help="Override the config's device.")] = None,
    progress: Annotated[ProgressMode | None, typer.Option(
        help="Progress display (auto: a bar in a terminal, log lines otherwise).")] = None,
    print_config: Annotated[bool, typer.Option(
        "--print-config", help="Print the resolved config as YAML and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Train a model from a YAML config; writes a run directory under runs/."""

    def go() -> int:
        if print_config:
            from trainer import config as config_mod

            extra = [f"device={device.value}"] if device else []
            typer.echo(config_mod.dump(config_mod.load(config, list(overrides or []) + extra)),
                       nl=False)
            return 0
        from trainer.session import train as train_fn

        code, _ = train_fn(config, overrides or [], resume=resume, run_dir=run_dir,
                           device=device.value if device else None,
                           progress=progress.value if progress else None)
        return code

    code = run_guarded(go, debug)
    if code:
        raise typer.Exit(code)


@app.command("eval")
def eval_(
    target: Annotated[str, typer.Argument(
        metavar="RUN_DIR|CHECKPOINT", help="A run directory or a checkpoint folder.")],
    overrides: Annotated[list[str] | None, typer.Argument(
        metavar="[KEY=VALUE]...", help="KEY=VALUE overrides, e.g. data.root=/data.")] = None,
    checkpoint: Annotated[Which, typer.Option(help="Which checkpoint of a run.")] = Which.last,
    split: Annotated[Split, typer.Option(help="Which split to score.")] = Split.test,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Evaluate a run's checkpoint: loss, accuracy, per-class accuracy, confusion matrix."""

    def go() -> None:
        from trainer.evaluation import evaluate_run, render

        render(evaluate_run(target, checkpoint.value, split.value, overrides or []))

    run_guarded(go, debug)


@app.command()
def runs(
    directory: Annotated[str, typer.Argument(
        metavar="[DIR]", help="Folder holding run directories.")] = "runs",
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """List the runs in a folder: name, model, epochs, best val acc, test acc, time."""

    def go() -> None:
        from rich.console import Console
        from rich.table import Table

        from trainer.runs import list_runs

        rows = list_runs(directory)
        if not rows:
            typer.echo(f"no runs in {directory}")
            return
        table = Table(title=f"runs in {directory}")
        for col in ("run", "model", "epochs", "best val acc", "test acc", "time", "status"):
            table.add_column(col, justify="left" if col in ("run", "model", "status") else "right")
        for r in rows:
            fmt = [r["run"], r["model"], r["epochs"]]
            fmt += ["-" if r[k] is None else f"{r[k]:.4f}" for k in ("best_val_acc", "test_acc")]
            fmt += ["-" if r["seconds"] is None else f"{r['seconds']:.1f}s", r["status"]]
            table.add_row(*fmt)
        Console(width=max(120, Console().width), markup=False).print(table)  # names verbatim

    run_guarded(go, debug)


# Export and predict live in their own module; importing it loads neither numpy nor engine.
from trainer.export_cmd import export_command, predict_command  # noqa: E402

app.command("export")(export_command)
app.command("predict")(predict_command)


def _default_blas_threads() -> None:
    """Cap BLAS threads at half the logical cores unless the user chose a number.

    Why: OpenBLAS threads spin while waiting, so on a busy or hyper-threaded CPU the small
    matrices of these models ran 10-100x slower with one thread per logical core than with one.
    Must run before numpy is imported; OPENBLAS_NUM_THREADS=N overrides it.
    """
    import os

    names = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    if not any(n in os.environ for n in names):
        threads = str(max(1, (os.cpu_count() or 2) // 2))
        for n in names:
            os.environ[n] = threads


def main() -> None:
    """Console-script entry point."""
    _default_blas_threads()
    app(prog_name="trainer")


if __name__ == "__main__":
    sys.exit(main())
