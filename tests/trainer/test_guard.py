"""trainer.guard: each kind of error becomes its documented exit code and one line on stderr."""

from __future__ import annotations

import pytest
import typer

from engine.errors import CheckpointError, ConfigError, DataError, ExportError
from trainer import guard


def _raise(exc: BaseException):
    def fn() -> None:
        raise exc

    return fn


def test_the_codes() -> None:
    assert (guard.EXIT_OK, guard.EXIT_RUNTIME, guard.EXIT_USAGE, guard.EXIT_INTERRUPTED) == \
        (0, 1, 2, 130)


@pytest.mark.parametrize(("exc", "code", "line"), [
    (ConfigError("bad key x"), 2, "error: bad key x"),
    (DataError("no file y"), 1, "error: no file y"),
    (ExportError("cannot export z"), 1, "error: cannot export z"),
    (CheckpointError("truncated w"), 1, "error: truncated w"),
    (FileNotFoundError(2, "No such file or directory"), 1,
     "error: [Errno 2] No such file or directory"),
    (KeyboardInterrupt(), 130, "interrupted"),
    (ZeroDivisionError("division by zero"), 1,
     "internal error: ZeroDivisionError: division by zero (rerun as `trainer --debug ...` for "
     "the traceback)"),
])
def test_each_error_class_maps_to_its_code(capsys, exc: BaseException, code: int,
                                           line: str) -> None:
    with pytest.raises(typer.Exit) as info:
        guard.run_guarded(_raise(exc), debug=False)
    assert info.value.exit_code == code
    captured = capsys.readouterr()
    assert captured.err == line + "\n" and captured.out == ""


def test_success_returns_the_value_and_debug_lets_errors_through(capsys) -> None:
    assert guard.run_guarded(lambda: 7, debug=False) == 7
    with pytest.raises(DataError, match="no file y"):
        guard.run_guarded(_raise(DataError("no file y")), debug=True)
    assert capsys.readouterr().err == ""


def test_early_sigint_handler_exits_with_the_constant(monkeypatch, capsys) -> None:
    def fake_exit(code: int) -> None:
        raise SystemExit(code)

    monkeypatch.setattr(guard.os, "_exit", fake_exit)
    with pytest.raises(SystemExit) as info:
        guard.exit_interrupted(2, None)
    assert info.value.code == guard.EXIT_INTERRUPTED
    assert capsys.readouterr().err == "interrupted\n"


def test_run_guarded_hands_sigint_to_python_while_the_command_runs() -> None:
    import signal

    seen = []
    before = signal.signal(signal.SIGINT, guard.exit_interrupted)
    try:
        guard.run_guarded(lambda: seen.append(signal.getsignal(signal.SIGINT)), debug=False)
        assert seen == [signal.default_int_handler]
        assert signal.getsignal(signal.SIGINT) is guard.exit_interrupted
    finally:
        signal.signal(signal.SIGINT, before)
