"""CLI for records management: ``wxguard search``, ``index``, ``hold`` and ``retention``
(exports: cli_discovery.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import msgspec
import orjson
import typer

from . import audit
from .archive import Archive, ArchiveError, resolve_data_dir
from .cli import (
    DataOpt,
    FormatOpt,
    OutputFormat,
    _esc,
    _print_json,
    _progress,
    app,
    err,
    errors,
    fail,
    out,
)
from .crypto import KeyProblem

index_app = typer.Typer(help="The search index (derived data in DATA/index).", no_args_is_help=True)
hold_app = typer.Typer(
    help="Legal holds: keep what a matter needs, whatever retention says.", no_args_is_help=True
)
retention_app = typer.Typer(
    help="Retention rules, disposal plans and disposal.", no_args_is_help=True
)
app.add_typer(index_app, name="index")
app.add_typer(hold_app, name="hold")
app.add_typer(retention_app, name="retention")


@contextmanager
def _errors() -> Iterator[None]:
    from .exports.package import ExportError
    from .holds import HoldError
    from .retention import RetentionError
    from .search.index import IndexError_
    from .search.query import QueryError

    with errors():  # and the disk's failures
        try:
            yield
        except (
            ArchiveError,
            KeyProblem,
            QueryError,
            IndexError_,
            HoldError,
            RetentionError,
            ExportError,
        ) as e:
            fail(_esc(str(e)))
        except KeyboardInterrupt:
            fail("interrupted; every finished step is committed and a re-run resumes", 130)


def _when(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------- search


@app.command()
def search(
    query: Annotated[
        list[str], typer.Argument(help="Query (docs/search.md), e.g. 合同 from:zhang")
    ],
    data: DataOpt = None,
    page: Annotated[int, typer.Option(min=1)] = 1,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    why: Annotated[str, typer.Option(help="Why you are searching (kept in the audit log)")] = "",
    output: FormatOpt = OutputFormat.text,
) -> None:
    """Search message text and metadata; every search is an audit event."""
    from .search.engine import SearchEngine

    text = " ".join(query)
    with _errors(), Archive.open(resolve_data_dir(data)) as a:
        eng = SearchEngine(a)
        behind = eng.index.behind()
        if behind > 20_000:
            _update(eng.index)
        res = eng.search(text, page=page, limit=limit)
        with a.transaction():
            audit.record(
                a,
                audit.current_actor(),
                "search",
                "search",
                {
                    "query": text,
                    "why": why,
                    "page": page,
                    "total": res.total,
                    "shown": [h.seq for h in res.hits],
                },
            )
        d = eng.directory
        conv_names = {c.id: c.name for c in d.conversations.values()}
        hits: list[dict[str, Any]] = [
            {
                "seq": h.seq,
                "id": h.message.id,
                "sent_at": h.message.sent_at,
                "kind": h.message.kind,
                "sender": h.message.sender,
                "sender_name": d.person(h.message.sender).name,
                "conversation": h.message.conversation,
                "conversation_name": conv_names.get(h.message.conversation, ""),
                "text": h.text,
                "spans": h.spans,
            }
            for h in res.hits
        ]
    if output == OutputFormat.json:
        _print_json(
            {
                "query": text,
                "total": res.total,
                "total_exact": res.total_exact,
                "candidates": res.candidates,
                "page": page,
                "more": res.more,
                "took_ms": round(res.took_ms, 1),
                "index_behind": res.index_behind,
                "hits": hits,
            }
        )
        return
    count = f"{res.total:,}" if res.total_exact else f"at least {res.total:,}"
    out.print(f"{count} messages ({res.took_ms:.0f} ms); page {page}", highlight=False)
    for h in hits:
        t, spans = h["text"], h["spans"]
        shown, pos = [], 0
        for s, e in spans:
            shown.append(_esc(t[pos:s]) + "[bold yellow]" + _esc(t[s:e]) + "[/]")
            pos = e
        shown.append(_esc(t[pos:]))
        who = h["sender_name"] or h["sender"]
        where = h["conversation_name"] or h["conversation"]
        out.print(
            f"[dim]{_when(h['sent_at'])} · {_esc(where)} · seq {h['seq']}[/]\n"
            f"  [cyan]{_esc(who)}[/]: {''.join(shown)[:2000]}"
        )
    if res.more:
        out.print(f"[dim]more: --page {page + 1}[/]")


def _update(index: Any, rebuild: bool = False) -> Any:
    from .search.index import rebuild as do_rebuild

    with _progress() as bar:
        task = bar.add_task("indexing", total=None)

        def step(n: int, total: int) -> None:
            bar.update(task, completed=n, total=total)

        return do_rebuild(index.a, step) if rebuild else index.update(step)


@index_app.command("update")
def index_update(data: DataOpt = None, output: FormatOpt = OutputFormat.text) -> None:
    """Index messages added since the last update and drop disposed ones."""
    from .search.index import SearchIndex

    with _errors(), Archive.open(resolve_data_dir(data)) as a:
        rep = _update(SearchIndex(a))
    _report(rep, output)


@index_app.command("rebuild")
def index_rebuild(data: DataOpt = None, output: FormatOpt = OutputFormat.text) -> None:
    """Recreate the search index from the archive."""
    from .search.index import SearchIndex, index_dir

    with _errors(), Archive.open(resolve_data_dir(data)) as a:
        if not index_dir(a).exists():
            index_dir(a).mkdir()
        try:
            idx = SearchIndex(a)
        except Exception:
            import shutil

            shutil.rmtree(index_dir(a))
            idx = SearchIndex(a)
        rep = _update(idx, rebuild=True)
    _report(rep, output)


def _report(rep: Any, output: OutputFormat) -> None:
    if output == OutputFormat.json:
        _print_json(rep.__dict__)
        return
    out.print(
        f"Indexed {rep.added:,} messages, removed {rep.deleted:,} disposed "
        f"({rep.seconds:.1f} s); index is at seq {rep.upto:,}."
    )


@index_app.command("status")
def index_status(data: DataOpt = None, output: FormatOpt = OutputFormat.text) -> None:
    """Size of the index and how far behind the archive it is."""
    from .search.index import SearchIndex

    with _errors(), Archive.open(resolve_data_dir(data)) as a:
        s = SearchIndex(a).stats()
    if output == OutputFormat.json:
        _print_json(s)
        return
    out.print(
        f"{s['documents']:,} messages indexed in {s['segments']} segments, "
        f"{s['bytes']:,} bytes ({s['bytes_per_message']} per message); "
        f"{s['behind']:,} changes not yet indexed."
    )


# --------------------------------------------------------------------------- holds


@hold_app.command("place")
def hold_place(
    name: Annotated[str, typer.Argument(help="A short name for the hold")],
    reason: Annotated[str, typer.Option(help="The matter or request it preserves data for")],
    data: DataOpt = None,
    matter: Annotated[str, typer.Option(help="Matter or case number")] = "",
    custodian: Annotated[
        list[str] | None, typer.Option(help="Participant id or name (repeat)")
    ] = None,
    conversation: Annotated[
        list[str] | None, typer.Option(help="Conversation id or group name")
    ] = None,
    start: Annotated[str | None, typer.Option("--from", help="Sent on or after (date)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Sent before (date)")] = None,
    query: Annotated[str, typer.Option(help="A saved search query")] = "",
    output: FormatOpt = OutputFormat.text,
) -> None:
    """Place a legal hold (criteria combine with AND)."""
    from .holds import HoldScope, count_covered, place
    from .search.query import date_ms

    with _errors(), Archive.open(resolve_data_dir(data)) as a:
        scope = HoldScope(
            custodians=custodian or [],
            conversations=conversation or [],
            after=date_ms(start, "--from"),
            before=date_ms(end, "--to"),
            query=query,
        )
        h = place(a, name, scope, reason, audit.current_actor(), matter)
        n = count_covered(a, h)
    if output == OutputFormat.json:
        _print_json({**h.as_dict(), "messages": n})
        return
    out.print(
        f"Hold {h.id} ({_esc(h.name)}) placed; it covers {n:,} messages now and every "
        "matching message archived later."
    )


@hold_app.command("release")
def hold_release(
    hold_id: Annotated[int, typer.Argument()],
    reason: Annotated[str, typer.Option(help="Why the hold is no longer needed")],
    data: DataOpt = None,
) -> None:
    """Release a legal hold (retention applies again to what it kept)."""
    from .holds import release

    with _errors(), Archive.open(resolve_data_dir(data)) as a:
        h = release(a, hold_id, reason, audit.current_actor())
    out.print(f"Hold {h.id} ({_esc(h.name)}) released.")


@hold_app.command("list")
def hold_list(
    data: DataOpt = None,
    show_all: Annotated[bool, typer.Option("--all", help="Include released holds")] = False,
    output: FormatOpt = OutputFormat.text,
) -> None:
    """List legal holds and how many messages each covers."""
    from .holds import count_covered, holds

    with _errors(), Archive.open(resolve_data_dir(data)) as a:
        rows = [
            {**h.as_dict(), "messages": count_covered(a, h) if h.active else None}
            for h in holds(a, active_only=not show_all)
        ]
    if output == OutputFormat.json:
        _print_json(rows)
        return
    if not rows:
        out.print("No holds.")
    for r in rows:
        state = "active" if r["active"] else f"released {_when(r['released_at'])}"
        out.print(
            f"{r['id']}  {_esc(r['name'])}  [{state}]  placed by {_esc(r['placed_by'])} "
            f"{_when(r['placed_at'])}; scope {_esc(orjson.dumps(r['scope']).decode())}"
            + (f"; {r['messages']:,} messages" if r["messages"] is not None else "")
        )


# --------------------------------------------------------------------------- retention


@retention_app.command("rules")
def retention_rules(data: DataOpt = None, output: FormatOpt = OutputFormat.text) -> None:
    """List retention rules."""
    from .retention import rules

    with _errors(), Archive.open(resolve_data_dir(data)) as a:
        rs = [msgspec.to_builtins(r) for r in rules(a)]
    if output == OutputFormat.json:
        _print_json(rs)
        return
    if not rs:
        out.print("No retention rules: every message is kept.")
    for r in rs:
        out.print(
            f"{r['name']}: keep {r['keep']} ({r['klass']}); kinds "
            f"{', '.join(r['kinds']) or 'all'}; departments "
            f"{_esc(', '.join(r['departments'])) or 'all'}"
        )


@retention_app.command("set")
def retention_set(
    name: Annotated[str, typer.Argument()],
    keep: Annotated[str, typer.Option(help="Period: 7y, 18m or 90d")],
    klass: Annotated[
        str, typer.Option("--class", help="compliance (extend only) or operational")
    ] = "compliance",
    kind: Annotated[
        list[str] | None, typer.Option(help="Message kind (repeat; default all)")
    ] = None,
    department: Annotated[
        list[str] | None, typer.Option(help="Department (repeat; default all)")
    ] = None,
    data: DataOpt = None,
) -> None:
    """Create or change a retention rule (a compliance rule can only be extended)."""
    from .retention import Rule, set_rule

    with _errors(), Archive.open(resolve_data_dir(data)) as a:
        r = set_rule(
            a,
            Rule(name=name, klass=klass, keep=keep, kinds=kind or [], departments=department or []),
            audit.current_actor(),
        )
    out.print(f"Rule {r.name} set: keep {r.keep} ({r.klass}).")


@retention_app.command("remove")
def retention_remove(name: Annotated[str, typer.Argument()], data: DataOpt = None) -> None:
    """Remove an operational retention rule."""
    from .retention import remove_rule

    with _errors(), Archive.open(resolve_data_dir(data)) as a:
        remove_rule(a, name, audit.current_actor())
    out.print(f"Rule {name} removed.")


def _print_plan(p: dict[str, Any]) -> None:
    out.print(
        f"As of {_when(p['as_of'])}: {p['messages']:,} messages and {p['blobs']:,} "
        f"attachments would be disposed; {p['kept_without_rule_or_unexpired']:,} kept."
    )
    for r, n in sorted(p["by_rule"].items()):
        out.print(f"  {n:,} under rule {r}")
    for h, n in sorted(p["held_by_hold"].items()):
        out.print(f"  {n:,} expired but kept by hold {h}")
    if p["keys_destroyed"]:
        out.print(f"  data keys destroyed (crypto-shredding): {', '.join(p['keys_destroyed'])}")


@retention_app.command("plan")
def retention_plan(data: DataOpt = None, output: FormatOpt = OutputFormat.text) -> None:
    """Dry run: what a disposal now would remove (changes nothing)."""
    from .retention import plan

    with _errors(), Archive.open(resolve_data_dir(data)) as a:
        p = plan(a).as_dict()
    if output == OutputFormat.json:
        _print_json(p)
    else:
        _print_plan(p)


@retention_app.command("apply")
def retention_apply(
    data: DataOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: disposal cannot be undone")] = False,
    output: FormatOpt = OutputFormat.text,
) -> None:
    """Dispose of expired, unheld messages; writes a signed disposition certificate."""
    from .disposal import apply
    from .retention import plan
    from .search.index import SearchIndex

    d = resolve_data_dir(data)
    with _errors(), Archive.open(d, write=True) as a:
        if not yes:
            _print_plan(plan(a).as_dict())
            fail("nothing was disposed: run again with --yes to dispose of the above", 2)
        with _progress() as bar:
            task = bar.add_task("disposing", total=None)
            rep = apply(
                a,
                audit.current_actor(),
                progress=lambda n, t: bar.update(task, completed=n, total=t),
            )
        try:
            SearchIndex(a).update()
        except Exception as e:
            err.print(f"[yellow]warning:[/] search index not updated now ({_esc(str(e))})")
    if output == OutputFormat.json:
        _print_json(
            {
                "disposal": rep.id,
                "messages": rep.messages,
                "blobs": rep.blobs,
                "held": rep.held,
                "keys_destroyed": rep.keys_destroyed,
                "certificate": rep.certificate_path,
            }
        )
        return
    out.print(
        f"Disposal {rep.id}: {rep.messages:,} messages and {rep.blobs:,} attachments "
        f"disposed, {rep.held:,} kept by holds, {len(rep.keys_destroyed)} data keys "
        f"destroyed. Certificate: {rep.certificate_path}"
    )


@retention_app.command("certificate")
def retention_certificate(
    path: Annotated[Path, typer.Argument(help="A disposal certificate (JSON)")],
    data: DataOpt = None,
) -> None:
    """Check a disposition certificate's signature (against this archive's key when --data)."""
    from .disposal import check_certificate

    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as e:
        fail(f"{path}: cannot read the certificate ({e})")
    key = None
    if data is not None:
        with _errors(), Archive.open(resolve_data_dir(data)) as a:
            key = a.keys.public_key
    with _errors():
        fpr = check_certificate(doc, key)
    out.print(
        f"VALID: disposal {doc.get('disposal')} as of {doc.get('as_of')}, "
        f"{doc.get('disposed', {}).get('messages', 0):,} messages, signed by key {fpr}"
    )
