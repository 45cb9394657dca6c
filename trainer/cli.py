"""The `trainer` command line: every command is declared here; each gathers options and calls
a library function (trainer.session, .evaluation, .runs, .export, .predict; trainer.display
prints). Exit codes and error handling live in trainer.guard.

Nothing heavy is imported at module level (no engine, numpy or rich) so `trainer --help` is fast.
"""

from __future__ import annotations

import os
import signal
import sys

from trainer.guard import exit_interrupted

# First thing when this is the program (python -m trainer.cli, or the `trainer` script): a
# Ctrl-C during the imports below or typer's parsing exits 130, not with a traceback.
# run_guarded hands SIGINT back to Python (KeyboardInterrupt) while a command runs.
if (__name__ == "__main__" or os.path.basename(sys.argv[0]) == "trainer") and \
        signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, exit_interrupted)

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated, Any  # noqa: E402

import typer  # noqa: E402

from trainer import __version__  # noqa: E402
from trainer.guard import run_guarded  # noqa: E402
from trainer.options import Device, Format, ProgressMode, Split, Which  # noqa: E402

app = typer.Typer(
    name="trainer",
    help="Train, evaluate and export models described by YAML configs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rendering it with rich costs ~0.4 s of imports
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"trainer {__version__}")
        raise typer.Exit()


def _debug_flag(ctx: typer.Context, value: bool) -> None:
    """--debug, given before or after the command: the one place that records it."""
    if value:
        ctx.find_root().ensure_object(dict)["debug"] = True


# `trainer train ... --debug` as older scripts wrote it: hidden, and recorded by _debug_flag.
DebugAlias = Annotated[bool, typer.Option(
    "--debug", hidden=True, expose_value=False, callback=_debug_flag)]

# The run (or checkpoint) that eval and export read, and which of its checkpoints.
RunTarget = Annotated[str | None, typer.Argument(
    metavar="RUN_DIR|CHECKPOINT|latest|best",
    help="A run directory or a checkpoint folder; latest (the default): the newest finished run "
         "under --runs-dir; best: the one with the best train.monitor.")]
WhichCheckpoint = Annotated[Which, typer.Option(help="Which checkpoint of a run.")]
RunsDir = Annotated[str, typer.Option(
    "--runs-dir", metavar="DIR", help="Where latest and best look for runs.")]


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", callback=_debug_flag, expose_value=False,
                               help="Show tracebacks instead of one-line errors."),
) -> None:
    """Train, evaluate and export models described by YAML configs."""


def _guarded(ctx: typer.Context, fn: Callable[[], Any]) -> Any:
    """run_guarded(fn) with --debug as the command line gave it."""
    return run_guarded(fn, bool((ctx.find_root().obj or {}).get("debug")))


def _pick(target: str | None, runs_dir: str) -> str:
    """The run a target names (latest and best looked up); says which on stderr when picked."""
    from trainer.run_pick import pick_run

    path, why = pick_run(target, runs_dir)
    if why:
        typer.echo(f"using run {path} ({why})", err=True)
    return str(path)


@app.command()
def train(
    ctx: typer.Context,
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
        help="Progress display (auto: a bar in a terminal, log lines otherwise; none: only "
             "the result lines).")] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="Print nothing but errors.")] = False,
    multirun: Annotated[bool, typer.Option(
        "--multirun", help="Sweep: one run per combination of comma-separated override values "
                           "(optimizer.lr=1e-3,3e-4 model.hidden=[64],[256]).")] = False,
    print_config: Annotated[bool, typer.Option(
        "--print-config", help="Print the resolved config as YAML and exit.")] = False,
    _debug: DebugAlias = False,
) -> None:
    """Train a model from a YAML config; writes a run directory under runs/."""
    dev, prog = (device.value if device else None), (progress.value if progress else None)

    def go() -> int:
        if print_config:
            from trainer import config as config_mod

            flags = config_mod.flag_overrides(device=dev, progress=prog)
            if multirun:
                from trainer.sweep import dump_members

                typer.echo(dump_members(config, list(overrides or []), flags), nl=False)
                return 0
            typer.echo(config_mod.dump(config_mod.load(config, list(overrides or []) + flags)),
                       nl=False)
            return 0
        if multirun:
            return _sweep(config, list(overrides or []), resume, run_dir, dev, prog, quiet)
        from trainer.session import train as train_fn

        code, _ = train_fn(config, overrides or [], resume=resume, run_dir=run_dir,
                           device=dev, progress=prog, quiet=quiet)
        return code

    code = _guarded(ctx, go)
    if code:
        raise typer.Exit(code)


def _sweep(config: str, overrides: list[str], resume: str | None, run_dir: str | None,
           device: str | None, progress: str | None, quiet: bool) -> int:
    """train --multirun: run the grid, then print its table (unless quiet)."""
    from trainer import sweep

    sweep.check_flags(resume, run_dir)
    summary = sweep.run_sweep(config, overrides, device, progress, quiet,
                              say=None if quiet else typer.echo,
                              warn=lambda line: typer.echo(f"error: {line}", err=True))
    if not quiet:
        from trainer.display import print_sweep

        print_sweep(summary)
    return sweep.exit_code(summary)


@app.command("eval")
def eval_(
    ctx: typer.Context,
    target: RunTarget = None,
    overrides: Annotated[list[str] | None, typer.Argument(
        metavar="[KEY=VALUE]...", help="KEY=VALUE overrides, e.g. data.root=/data.")] = None,
    checkpoint: WhichCheckpoint = Which.last,
    split: Annotated[Split, typer.Option(help="Which split to score.")] = Split.test,
    runs_dir: RunsDir = "runs",
    _debug: DebugAlias = False,
) -> None:
    """Evaluate a run's checkpoint: loss, accuracy, per-class accuracy, confusion matrix."""

    def go() -> None:
        from trainer.display import print_eval
        from trainer.evaluation import evaluate_run
        from trainer.run_pick import split_target

        named, extra = split_target(target, overrides or [])
        print_eval(evaluate_run(_pick(named, runs_dir), checkpoint.value, split.value, extra))

    _guarded(ctx, go)


@app.command()
def runs(
    ctx: typer.Context,
    directory: Annotated[str, typer.Argument(
        metavar="[DIR]", help="Folder holding run directories.")] = "runs",
    compare: Annotated[tuple[str, str] | None, typer.Option(
        "--compare", metavar="A B", help="Compare two runs (folders, or names in DIR): config "
        "keys that differ, final metrics, and a PNG of their curves (plot extra).")] = None,
    out: Annotated[str | None, typer.Option(
        "--out", help="With --compare: the PNG (default: A/plots/compare-<B>.png).")] = None,
    _debug: DebugAlias = False,
) -> None:
    """List the runs in a folder (name, model, epochs, val and test acc, time), or compare two."""

    def go() -> None:
        if compare:
            _compare(directory, compare, out)
            return
        from trainer.display import print_runs
        from trainer.runs import list_runs

        print_runs(directory, list_runs(directory))

    _guarded(ctx, go)


def _compare(directory: str, names: tuple[str, str], out: str | None) -> None:
    """runs --compare: which runs were picked (stderr), then the tables and the PNG's path."""
    from trainer.display import print_compare
    from trainer.run_compare import compare_named

    report = compare_named(names, directory, out)
    for note in report["notes"]:
        typer.echo(note, err=True)
    print_compare(report)


@app.command("export")
def export(
    ctx: typer.Context,
    target: RunTarget = None,
    checkpoint: WhichCheckpoint = Which.last,
    format: Annotated[Format, typer.Option(
        "--format", help="script: one .safetensors file run by NumPy; onnx: ONNX opset 17.")
    ] = Format.script,
    out: Annotated[str | None, typer.Option(
        "--out", help="Output file (default: RUN/export/model-<checkpoint>.<ext>).")] = None,
    runs_dir: RunsDir = "runs",
    _debug: DebugAlias = False,
) -> None:
    """Export a run's model as a code-free script file or as ONNX."""

    def go() -> None:
        from trainer.export import export_run

        path = export_run(_pick(target, runs_dir), checkpoint.value, format.value, out)
        typer.echo(f"wrote {path}")

    _guarded(ctx, go)


@app.command("predict")
def predict(
    ctx: typer.Context,
    model_file: Annotated[str, typer.Argument(
        metavar="MODEL_FILE", help="An exported .safetensors or .onnx file.")],
    images: Annotated[str, typer.Argument(
        metavar="INPUT", help="IDX images: N x H x W, or N x H x W x C channels last (uint8).")],
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Classes per image.")] = 1,
    out: Annotated[str | None, typer.Option("--out", help="Write a CSV here.")] = None,
    labels: Annotated[str | None, typer.Option(
        "--labels", help="An IDX labels file: also print the accuracy.")] = None,
    _debug: DebugAlias = False,
) -> None:
    """Run an exported model on IDX images: top classes with probabilities (and accuracy)."""

    def go() -> None:
        from trainer.display import format_csv
        from trainer.predict import check_out, predict_file

        if out:
            check_out(Path(out))  # before the model runs: a bad --out wastes no work
        report = predict_file(model_file, images, top_k, labels)
        text = format_csv(report)
        if out:
            from trainer.runs import write_atomic

            write_atomic(Path(out), text)
            typer.echo(f"wrote {len(report['top'])} predictions to {out}")
        else:
            typer.echo(text, nl=False)
        if report["accuracy"] is not None:
            typer.echo(f"accuracy: {report['accuracy']:.4f} ({len(report['top'])} images)")

    _guarded(ctx, go)


@app.command("summary")
def summary(
    ctx: typer.Context,
    config: Annotated[str, typer.Argument(
        metavar="CONFIG", help="YAML config, e.g. configs/mnist.yaml.")],
    overrides: Annotated[list[str] | None, typer.Argument(
        metavar="[KEY=VALUE]...", help="KEY=VALUE overrides, e.g. model.hidden=[256].")] = None,
    _debug: DebugAlias = False,
) -> None:
    """Print the config's model: layers, output shapes, parameter counts and size."""

    def go() -> None:
        from trainer.summary import summarize

        typer.echo(summarize(config, overrides or []))

    _guarded(ctx, go)


def _default_blas_threads() -> None:
    """Cap BLAS threads at half the logical cores unless the user chose a number.

    Why: OpenBLAS threads spin while waiting, so on a busy or hyper-threaded CPU the small
    matrices of these models ran 10-100x slower with one thread per logical core than with one.
    Must run before numpy is imported; OPENBLAS_NUM_THREADS=N overrides it. MPI ranks on one
    machine split that share.
    """
    import os

    names = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    if not any(n in os.environ for n in names):
        # Under mpiexec the ranks on this machine share its cores.
        local = os.environ.get("MPI_LOCALNRANKS") or os.environ.get("OMPI_COMM_WORLD_LOCAL_SIZE")
        ranks = int(local) if local and local.isdigit() and int(local) > 0 else 1
        threads = str(max(1, (os.cpu_count() or 2) // 2 // ranks))
        for n in names:
            os.environ[n] = threads


def main() -> None:
    """Console-script entry point."""
    _default_blas_threads()
    app(prog_name="trainer")


if __name__ == "__main__":
    sys.exit(main())
