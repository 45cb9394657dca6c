"""What the commands print: eval tables, the runs table, predictions as CSV.

rich loads inside the functions: the CLI imports this module only when a command prints.
"""

from __future__ import annotations

import csv
import io
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
    from rich.console import Console
    from rich.table import Table

    if not rows:
        print(f"no runs in {directory}")
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
