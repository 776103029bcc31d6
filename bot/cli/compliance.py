"""`scrm compliance ...` commands: scan, eval, export, lexicon."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="compliance commands: screen texts, score a labelled set, export flags.", no_args_is_help=True)

_DIRECTIONS = {"any": None, "out": "out", "in": "in"}


def _lines(source: str) -> Any:
    """Texts from a file or stdin: plain lines, or JSONL objects with a "text" field."""
    stream = sys.stdin if source == "-" else open(source, encoding="utf-8")  # noqa: SIM115
    try:
        for raw in stream:
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            if line.lstrip().startswith("{"):
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    yield line, None
                    continue
                if isinstance(obj, dict) and isinstance(obj.get("text"), str):
                    yield obj["text"], obj
                    continue
            yield line, None
    finally:
        if stream is not sys.stdin:
            stream.close()


def _screener(semantic: bool, lexicon: Path | None) -> Any:
    from compliance.gate import ComplianceGate
    from compliance.lexicon import LexiconError, load_lexicon

    try:
        lex = load_lexicon(lexicon) if lexicon else None
    except LexiconError as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    sem = None
    if semantic:
        from compliance.semantic import EmbeddingSemantic

        sem = EmbeddingSemantic()
    return ComplianceGate(lexicon=lex, semantic=sem)


@app.command()
def scan(
    source: Annotated[str, typer.Argument(help="a text file (one text per line, or JSONL with \"text\"); - = stdin")] = "-",
    direction: Annotated[str, typer.Option(help="out (what we send), in (what clients send) or any")] = "any",
    semantic: Annotated[bool, typer.Option("--semantic/--no-semantic", help="the offline semantic stage")] = True,
    lexicon: Annotated[Path | None, typer.Option(help="a lexicon YAML instead of the packaged one")] = None,
) -> None:
    """Screen each line; print one JSON line per input: {"text","flagged","severity","hits":[...]}."""
    if direction not in _DIRECTIONS:
        raise typer.BadParameter("direction must be out, in or any")
    gate = _screener(semantic, lexicon)
    if source != "-" and not Path(source).exists():
        typer.secho(f"no such file: {source}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    for text, _ in _lines(source):
        result = gate.screen(text, direction=_DIRECTIONS[direction])
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False))


@app.command("eval")
def evaluate(
    source: Annotated[Path, typer.Argument(help="JSONL with text and expected: flag|clean (compliance_dev.jsonl)")],
    semantic: Annotated[bool, typer.Option("--semantic/--no-semantic", help="the offline semantic stage")] = True,
    show_errors: Annotated[bool, typer.Option("--errors/--no-errors", help="list misses and false flags")] = True,
    lexicon: Annotated[Path | None, typer.Option(help="a lexicon YAML instead of the packaged one")] = None,
) -> None:
    """Precision and recall of the screening on a labelled file (flag = flagged with any severity)."""
    if not source.exists():
        typer.secho(f"no such file: {source}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    gate = _screener(semantic, lexicon)
    tp = fp = fn = tn = 0
    per_cat: dict[str, list[int]] = {}
    errors = []
    for text, obj in _lines(str(source)):
        expected = (obj or {}).get("expected") == "flag"
        got = gate.screen(text, direction=None).flagged
        cat = str((obj or {}).get("category") or "none")
        stats = per_cat.setdefault(cat, [0, 0])
        if expected:
            stats[1] += 1
            stats[0] += int(got)
        if got and expected:
            tp += 1
        elif got:
            fp += 1
            errors.append(("false flag", text))
        elif expected:
            fn += 1
            errors.append(("miss", text))
        else:
            tn += 1
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    typer.echo(json.dumps({"n": tp + fp + fn + tn, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
                           "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}))
    for cat, (hit, total) in sorted(per_cat.items()):
        if total:
            typer.echo(f"  recall {cat:<24} {hit}/{total}")
    if show_errors:
        for kind, text in errors:
            typer.echo(f"  {kind}: {text}")


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{name} must be YYYY-MM-DD") from None


@app.command()
def export(
    start: Annotated[str, typer.Option("--from", help="first day, YYYY-MM-DD (local time)")],
    end: Annotated[str, typer.Option("--to", help="last day, YYYY-MM-DD (inclusive)")],
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "csv",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write to this file instead of stdout")] = None,
) -> None:
    """Export flagged transcripts created between two days (inclusive) as CSV or JSONL."""
    from bot.cli.common import settings_or_exit
    from bot.db import Database
    from compliance import service as compliance_service

    if fmt not in ("csv", "jsonl"):
        raise typer.BadParameter("format must be csv or jsonl")
    first, last = _day(start, "--from"), _day(end, "--to")
    if last < first:
        raise typer.BadParameter("--to is before --from")
    settings = settings_or_exit()
    tz = settings.tz
    lo = datetime.combine(first, time.min, tz).astimezone(UTC)
    hi = datetime.combine(last + timedelta(days=1), time.min, tz).astimezone(UTC)
    db = Database(settings.db_url)
    try:
        with db.session() as session:
            body = compliance_service.export(session=session, start=lo, end=hi, fmt=fmt)
    finally:
        db.dispose()
    if out:
        out.write_text(body, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)
    else:
        sys.stdout.write(body.removeprefix("\ufeff"))


@app.command()
def lexicon(
    path: Annotated[Path | None, typer.Argument(help="a lexicon YAML to validate (default: the packaged one)")] = None,
) -> None:
    """Validate a lexicon file and print its version and size (exit 2 with the entry named when it is invalid)."""
    from compliance.lexicon import LexiconError, load_lexicon

    try:
        lex = load_lexicon(path)
    except LexiconError as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    typer.echo(json.dumps({"version": lex.version, "categories": len(lex.categories), "entries": len(lex.entries)},
                          ensure_ascii=False))
