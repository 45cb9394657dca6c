"""What the commands print: eval tables, the runs, sweep and compare tables, predictions as CSV.

rich loads inside the functions: the CLI imports this module only when a command prints.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any


def print_eval(report: dict[str, Any]) -> None:
    """Print an eval report as rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"{report['split']} split of {report['run']}, checkpoint {report['checkpoint']}"
                  f" (step {report['step']})", markup=False, highlight=False)
    head = Table()
    for col in ("samples", "loss", "accuracy"):
        head.add_column(col, justify="right")
    head.add_row(str(report["count"]), f"{report['loss']:.4f}", f"{report['acc']:.4f}")
    console.print(head)
    per = Table(title="per-class accuracy")
    per.add_column("class")
    per.add_column("accuracy", justify="right")
    for name, acc in report["per_class_acc"].items():
        per.add_row(name, "-" if acc is None else f"{acc:.4f}")
    console.print(per)
    conf = Table(title="confusion matrix (rows: true, columns: predicted)")
    conf.add_column("")
    for i in range(len(report["classes"])):
        conf.add_column(str(i), justify="right")
    for i, (name, row) in enumerate(zip(report["classes"], report["confusion"], strict=True)):
        label = name if name == str(i) else f"{i} {name}"
        conf.add_row(label, *[str(v) for v in row])
    console.print(conf)


def print_runs(directory: str, rows: list[dict[str, Any]]) -> None:
    """Print list_runs rows as a table (or say there are none)."""
    from rich.table import Table

    if not rows:
        print(f"no runs in {directory}")
        return
    table = Table(title=f"runs in {directory}")
    for col in ("run", "model", "epochs", "best val acc", "test acc", "time", "status"):
        table.add_column(col, justify="left" if col in ("run", "model", "status") else "right")
    for r in rows:
        fmt = [r["run"], r["model"], r["epochs"]]
        fmt += [_number(r[k]) for k in ("best_val_acc", "test_acc")]
        fmt += ["-" if r["seconds"] is None else f"{r['seconds']:.1f}s", r["status"]]
        table.add_row(*fmt)
    _wide_console().print(table)


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def _wide_console() -> Any:
    """A console at least 120 columns wide that prints names verbatim (no markup)."""
    from rich.console import Console

    return Console(width=max(120, Console().width), markup=False)


def print_sweep(summary: dict[str, Any]) -> None:
    """Print a sweep's members: swept values, best val acc, test acc, status."""
    from rich.table import Table

    table = Table(title=f"sweep {summary['folder']}")
    table.add_column("member")
    for key in summary["keys"]:
        table.add_column(key)
    for col in ("best val acc", "test acc"):
        table.add_column(col, justify="right")
    table.add_column("status")
    for m in summary["members"]:
        table.add_row(m["run"], *m["values"].values(), _number(m["best_val_acc"]),
                      _number(m["test_acc"]), m["status"])
    console = _wide_console()
    console.print(table)
    failed = sum(m["status"] not in ("finished", "early_stopped") for m in summary["members"])
    console.print(f"{len(summary['members']) - failed} of {len(summary['members'])} members "
                  f"finished; summary: {summary['folder']}/sweep.json", highlight=False,
                  soft_wrap=True)


def print_compare(report: dict[str, Any]) -> None:
    """Print the config keys two runs differ in and their final metrics side by side."""
    from rich.table import Table

    a, b = (Path(r).name for r in report["runs"])
    console = _wide_console()
    if report["differ"]:
        table = Table(title="config differences")
        for col in ("key", a, b):
            table.add_column(col)
        for key, va, vb in report["differ"]:
            table.add_row(key, str(va), str(vb))
        console.print(table)
    else:
        console.print("configs are the same", highlight=False)
    if report["ignored"]:
        console.print(f"also differ (how a run is shown or stored): {', '.join(report['ignored'])}",
                      highlight=False)
    metrics = Table(title="final metrics")
    metrics.add_column("metric")
    for col in (a, b):
        metrics.add_column(col, justify="right")
    for label, va, vb in report["metrics"]:
        metrics.add_row(label, _value(va), _value(vb))
    console.print(metrics)
    if "png" in report:
        png = report["png"]
        console.print(f"wrote {png}" if png is not None else
                      "no plot: matplotlib is not installed (pip install '.[plot]')",
                      highlight=False, soft_wrap=True)


def _value(value: Any) -> str:
    """A metric as the table shows it: floats to 4 places, "-" when absent."""
    return _number(value) if isinstance(value, float) or value is None else str(value)


def format_csv(report: dict[str, Any]) -> str:
    """One row per image: index, then class, name and probability for each of the top k."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    k = report["top"].shape[1] if report["top"].ndim == 2 else 0
    header = ["index"]
    for r in range(1, k + 1):
        header += [f"class_{r}", f"name_{r}", f"prob_{r}"]
    writer.writerow(header)
    names = report["classes"]
    for i, (cls, prob) in enumerate(zip(report["top"], report["probs"], strict=True)):
        row: list[Any] = [i]
        for c, p in zip(cls, prob, strict=True):
            row += [int(c), names[c] if names and c < len(names) else "", f"{p:.6f}"]
        writer.writerow(row)
    return buf.getvalue()
