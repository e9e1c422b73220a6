"""`lambdad runtimes`: which interpreter runs each runtime id here, what it bundles, and
`lambdad runtimes prepare`, which installs the bundles ahead of the first cold start.

Both work on this host's files (no server needed): the interpreters found on PATH
(pyenv's real binaries, Debian's, /usr/local's) and the runtime cache dir a server
with the same settings uses.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from lambdad.runtimes.bundles import Bundle, bundle_for, managed_runtimes
from lambdad.runtimes.interpreters import Interpreter, InterpreterCatalog
from lambdad.runtimes.prepare import RuntimePreparationError, RuntimeStore
from lambdad.settings import Settings

CUSTOM_RUNTIMES = ("provided.al2023", "provided.al2")


@dataclass(frozen=True)
class RuntimeRow:
    runtime: str
    interpreter: Interpreter | None
    note: str
    """"exact", "fallback: ..." or why it cannot run."""
    bundle: Bundle | None


def runtime_rows(catalog: InterpreterCatalog) -> list[RuntimeRow]:
    """One row per runtime id lambdad runs, as a cold start would choose."""
    rows = []
    for runtime in (*managed_runtimes(), *CUSTOM_RUNTIMES):
        choice = catalog.choose(runtime)
        interp = choice.interpreter
        if runtime.startswith("provided"):
            note = "custom runtime: the function's own bootstrap"
        elif interp is None:
            note = f"cannot run: {choice.error}"
        elif choice.notice:
            have = ".".join(map(str, interp.version))
            note = f"fallback: {choice.family} {have} (no {choice.family} {choice.requested} here)"
        else:
            note = "exact"
        python = interp is not None and interp.family == "python"
        language = f"{interp.version[0]}.{interp.version[1]}" if interp and python else ""
        bundle = bundle_for(runtime, language)
        rows.append(RuntimeRow(runtime, interp, note, bundle))
    return rows


def _full_version(interp: Interpreter) -> str:
    try:
        out = subprocess.run(
            [str(interp.executable), "--version"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return ".".join(map(str, interp.version))
    return (out.stdout or out.stderr).strip().removeprefix("Python ").removeprefix("v")


def _store(cache: Path | None, data_dir: Path | None) -> RuntimeStore:
    settings = Settings.from_env().with_overrides(data_dir=data_dir)
    return RuntimeStore(cache or settings.runtime_cache_dir)


cache_option = click.option(
    "--cache",
    type=click.Path(path_type=Path),
    default=None,
    help="Runtime cache dir.  [default: $LAMBDAD_RUNTIME_CACHE, else DATA_DIR/runtimes]",
)
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="The server's data dir.  [default: .lambdad]",
)


@click.group(invoke_without_command=True)
@cache_option
@data_dir_option
@click.pass_context
def runtimes(ctx: click.Context, cache: Path | None, data_dir: Path | None) -> None:
    """Which interpreter runs each runtime id on this host, and what it bundles."""
    if ctx.invoked_subcommand is not None:
        return
    store = _store(cache, data_dir)
    table = Table(box=None, pad_edge=False)
    for column in ("RUNTIME", "INTERPRETER", "VERSION", "CHOICE", "BUNDLED SDK", "PREPARED"):
        table.add_column(column, overflow="fold")
    for row in runtime_rows(InterpreterCatalog.discover()):
        interp = row.interpreter
        prepared = "-"
        if row.bundle is not None and interp is not None:
            prepared = "yes" if store.ready(row.bundle) else "on first use"
        table.add_row(
            row.runtime,
            str(interp.executable) if interp else "-",
            _full_version(interp) if interp else "-",
            row.note,
            row.bundle.describe() if row.bundle else "-",
            prepared,
        )
    Console(width=200).print(table)
    click.echo(f"runtime cache: {store.root}")


@runtimes.command()
@click.argument("runtime_ids", nargs=-1)
@cache_option
@data_dir_option
def prepare(runtime_ids: tuple[str, ...], cache: Path | None, data_dir: Path | None) -> None:
    """Install the bundled SDK of RUNTIME_IDS (default: every runtime this host runs)
    from PyPI / npm into the runtime cache, so no cold start downloads it."""
    store = _store(cache, data_dir)
    rows = {row.runtime: row for row in runtime_rows(InterpreterCatalog.discover())}
    unknown = [r for r in runtime_ids if r not in rows or rows[r].bundle is None]
    if unknown:
        raise click.UsageError(
            f"no bundled SDK for {', '.join(unknown)}; "
            f"managed runtimes: {', '.join(managed_runtimes())}"
        )
    wanted = [rows[r] for r in runtime_ids] if runtime_ids else list(rows.values())
    todo = [row for row in wanted if row.bundle is not None and row.interpreter is not None]
    for row in wanted:
        if row not in todo and row.bundle is not None:
            click.echo(f"{row.runtime}: skipped ({row.note})")
    progress = Progress(
        TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(), transient=False
    )
    failed = []
    with progress:
        for row in todo:
            assert row.bundle is not None and row.interpreter is not None
            name = row.runtime
            task = progress.add_task(name, total=2)

            def step(n: int, steps: int, what: str, task: TaskID = task, name: str = name) -> None:
                progress.update(task, total=steps, completed=n - 1, description=f"{name}: {what}")

            python = row.interpreter.executable if row.bundle.family == "python" else None
            try:
                path = store.ensure(row.bundle, interpreter=python, progress=step)
            except RuntimePreparationError as exc:
                progress.update(task, description=f"{row.runtime}: failed")
                failed.append(str(exc))
                continue
            progress.update(
                task, completed=progress.tasks[task].total, description=f"{row.runtime}: ready"
            )
            progress.console.print(f"{row.runtime}: {row.bundle.describe()} in {path}")
    for message in failed:
        click.secho(f"error: {message}", fg="red", err=True)
    if failed:
        raise SystemExit(1)
