"""``wxguard employees``: mark archived WeChat accounts as employees (internal)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .archive import Archive, resolve_data_dir
from .audit import current_actor
from .cli import DataOpt, FormatOpt, OutputFormat, _print_json, app, errors, fail, out
from .imports import EmployeeError, read_employees
from .imports.run import mark_employees


@app.command("employees")
def employees(
    csv_file: Annotated[Path, typer.Argument(help="CSV with account,name,department,title")],
    data: DataOpt = None,
    output: FormatOpt = OutputFormat.text,
) -> None:
    """Mark the listed WeChat accounts (wxid) as employees: internal, with department and
    title, so policies can tell colleagues from customers. Imports take the same CSV with
    `--employees` (there a 微信号 matches too). Audited."""
    try:
        staff = read_employees(csv_file)
    except EmployeeError as e:
        fail(str(e))
    with errors(), Archive.open(resolve_data_dir(data), write=True) as a:
        marked, missing = mark_employees(a, staff, current_actor())
    if output == OutputFormat.json:
        _print_json({"listed": len(staff), "marked": marked, "not_found": missing})
        return
    out.print(
        f"Marked {marked:,} of {len(staff):,} listed accounts as employees"
        + (f"; {missing:,} not in the archive (yet)" if missing else "")
        + "."
    )
