"""``wxguard edm``, ``fingerprint`` and ``lexicon``: the data the detectors look for.

Both keep only keyed hashes (HMAC with the archive's fingerprint key) in the data
directory; the tables and documents themselves are not copied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from . import cli_detect  # read when a command runs (import order)
from .archive import Archive, resolve_data_dir
from .cli import DataOpt, FormatOpt, OutputFormat, _esc, _print_json, _table, app, fail, out
from .detect.docprint import FORMAT as DOCPRINT_FORMAT
from .detect.docprint import build_print, load_prints, prints_dir, save_print
from .detect.exactdata import build_index, edm_dir, load_indexes, save_index
from .detect.lexiconfile import LexiconError, builtin_lexicon_files, lexicon_files, load_lexicon
from .detect.registered import remove_item
from .detect.scan import edm_hash

edm_app = typer.Typer(help="Exact-data match: register customer tables (kept as keyed hashes).")
app.add_typer(edm_app, name="edm")


@edm_app.command("add")
def edm_add(
    name: Annotated[str, typer.Argument(help="Table name, kebab-case (e.g. customers)")],
    csv_file: Annotated[Path, typer.Argument(help="CSV with a header row, UTF-8")],
    data: DataOpt = None,
    replace: Annotated[bool, typer.Option(help="Rebuild an existing table")] = False,
    output: FormatOpt = OutputFormat.text,
) -> None:
    """Register a customer table: cells are stored only as keyed hashes; the CSV is not kept."""
    d = resolve_data_dir(data)
    with cli_detect._detect_errors(), Archive.open(d) as a:
        try:
            raw = csv_file.read_bytes()
        except OSError as e:
            fail(f"{_esc(str(csv_file))}: cannot read: {e.strerror}")
        idx = build_index(name, raw, str(csv_file), edm_hash(a))
        path = save_index(d, idx, replace)
    cols = [{"column": c, "kind": k} for c, k in zip(idx.columns, idx.kinds, strict=True)]
    if output == OutputFormat.json:
        _print_json({"name": idx.name, "records": idx.records, "columns": cols, "path": str(path)})
        return
    used = ", ".join(f"{c['column']} ({c['kind']})" for c in cols if c["kind"] != "skip")
    out.print(f"Registered {idx.records:,} records as {_esc(idx.name)}: matching {_esc(used)}")
    out.print("Delete the CSV if it is not needed elsewhere; run wxguard scan to look for it.")


@edm_app.command("list")
def edm_list(data: DataOpt = None, output: FormatOpt = OutputFormat.text) -> None:
    """List registered tables (names, record counts, matched columns)."""
    d = resolve_data_dir(data)
    skipped: list[str] = []
    with cli_detect._detect_errors():
        tables = load_indexes(edm_dir(d), None, skipped)
    for why in skipped:
        cli_detect._warn("[yellow]skipped:[/]", why)
    rows: list[dict[str, Any]] = [
        {"name": x.name, "records": x.records, "created_at": x.created_at,
         "columns": [c for c, k in zip(x.columns, x.kinds, strict=True) if k != "skip"]}
        for x in tables
    ]  # fmt: skip
    if output == OutputFormat.json:
        _print_json(rows)
        return
    cells = [[r["name"], f"{r['records']:,}", ", ".join(map(str, r["columns"]))] for r in rows]
    _table("exact-data tables", ["name", "records", "matched columns"], cells)


@edm_app.command("remove")
def edm_remove(name: str, data: DataOpt = None) -> None:
    """Remove a registered table (its findings stay until the next scan replaces them)."""
    with cli_detect._detect_errors():
        remove_item(edm_dir(resolve_data_dir(data)), name, "exact-data table")
    out.print(f"Removed {_esc(name)}")


fingerprint_app = typer.Typer(help="Register confidential documents (kept as hashes).")
app.add_typer(fingerprint_app, name="fingerprint")


@fingerprint_app.command("add")
def fingerprint_add(
    name: Annotated[str, typer.Argument(help="Fingerprint name, kebab-case (e.g. price-list)")],
    document: Annotated[
        Path,
        typer.Argument(help="The document: text (UTF-8/GB18030), .docx, .xlsx, .pptx or PDF"),
    ],
    data: DataOpt = None,
    replace: Annotated[bool, typer.Option(help="Rebuild an existing fingerprint")] = False,
    output: FormatOpt = OutputFormat.text,
) -> None:
    """Register a confidential document: its md5/sha256 and hashes of its text's shingles."""
    d = resolve_data_dir(data)
    with cli_detect._detect_errors(), Archive.open(d) as a:
        p, read = build_print(name, document, edm_hash(a))
        path = save_print(d, p, replace)
    info = {"name": p.name, "file": p.file, "md5": p.md5, "shingles": len(p.shingles),
            "text": read.kind, "characters": len(read.text), "note": read.note,
            "path": str(path)}  # fmt: skip
    if output == OutputFormat.json:
        _print_json(info)
        return
    if p.shingles:
        text = f"{len(p.shingles):,} text shingles from {len(read.text):,} characters ({read.kind})"
    elif read.note:
        text = f"md5 only — {read.note}"
    else:
        text = "md5 only — too little text for a shingle"
    out.print(f"Registered {_esc(p.file)} as {_esc(p.name)}: md5 {p.md5}, {_esc(text)}")


@fingerprint_app.command("list")
def fingerprint_list(data: DataOpt = None, output: FormatOpt = OutputFormat.text) -> None:
    """List registered documents."""
    skipped: list[str] = []
    with cli_detect._detect_errors():
        prints = load_prints(prints_dir(resolve_data_dir(data)), None, skipped)
    for why in skipped:
        cli_detect._warn("[yellow]skipped:[/]", why)
    for p in prints:
        if p.format != DOCPRINT_FORMAT and p.shingles:
            cli_detect._warn(
                "[yellow]older sampling:[/]",
                f"{p.name} ({p.format}) may miss short excerpts; rebuild it with "
                f"'wxguard fingerprint add {p.name} FILE --replace'",
            )
    rows: list[dict[str, Any]] = [
        {"name": p.name, "file": p.file, "size": p.size, "md5": p.md5, "format": p.format,
         "shingles": len(p.shingles), "created_at": p.created_at}
        for p in prints
    ]  # fmt: skip
    if output == OutputFormat.json:
        _print_json(rows)
        return
    cells = [[r["name"], r["file"], f"{r['size']:,}", r["md5"], r["shingles"]] for r in rows]
    _table("registered documents", ["name", "file", "bytes", "md5", "shingles"], cells)


@fingerprint_app.command("remove")
def fingerprint_remove(name: str, data: DataOpt = None) -> None:
    """Remove a registered document."""
    with cli_detect._detect_errors():
        remove_item(prints_dir(resolve_data_dir(data)), name, "registered document")
    out.print(f"Removed {_esc(name)}")


lexicon_app = typer.Typer(help="Lexicons: check a file before installing it, list what is loaded.")
app.add_typer(lexicon_app, name="lexicon")


@lexicon_app.command("check")
def lexicon_check(
    files: Annotated[list[Path], typer.Argument(help="Lexicon TOML files")],
    output: FormatOpt = OutputFormat.text,
) -> None:
    """Validate lexicon files: encoding, keys, terms, regexes, proximity rules."""
    results: list[dict[str, Any]] = []
    for f in files:
        try:
            x = load_lexicon(f)
            results.append({"file": str(f), "ok": True, "id": x.id, "entity": x.entity,
                            "terms": len(x.terms), "patterns": len(x.patterns),
                            "near": len(x.near)})  # fmt: skip
        except LexiconError as e:
            results.append({"file": str(f), "ok": False, "error": str(e)})
    if output == OutputFormat.json:
        _print_json(results)
    else:
        for r in results:
            if r["ok"]:
                counts = f"{r['terms']:,} terms, {r['patterns']} regexes, {r['near']} near rules"
                out.print(f"ok  {_esc(r['file'])}: {_esc(r['id'])} → {r['entity']}, {counts}")
            else:
                out.print(f"[red]bad[/] {_esc(r['error'])}", soft_wrap=True)
    if not all(r["ok"] for r in results):
        raise typer.Exit(1)


@lexicon_app.command("list")
def lexicon_list(data: DataOpt = None, output: FormatOpt = OutputFormat.text) -> None:
    """List the lexicons the lexicon detector loads (built-in and DATA/lexicons/)."""
    d = resolve_data_dir(data)
    with cli_detect._detect_errors():
        mine = [d / "lexicons"] if (d / "lexicons").is_dir() else []
        files = builtin_lexicon_files() + lexicon_files(mine)
    rows: list[dict[str, object]] = []
    for f in files:
        try:
            x = load_lexicon(f)
            rows.append({"id": x.id, "entity": x.entity, "terms": len(x.terms),
                         "source": x.source})  # fmt: skip
        except LexiconError as e:  # the scanner skips it too (see the lexicon detector)
            rows.append({"id": None, "entity": None, "terms": 0, "source": str(f),
                         "problem": str(e)})  # fmt: skip
    if output == OutputFormat.json:
        _print_json(rows)
        return
    _table("lexicons", ["id", "entity", "terms", "source"],
           [[str(r["id"] or "—"), str(r["entity"] or "—"), f"{r['terms']:,}", str(r["source"])]
            for r in rows])  # fmt: skip
    for r in rows:
        if "problem" in r:
            cli_detect._warn("[yellow]skipped:[/]", str(r["problem"]))
