"""The `leadscore` command. Each command imports its heavy machinery only when it runs, so
`leadscore --help` stays fast."""

from __future__ import annotations

import functools
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

app = typer.Typer(
    name="leadscore",
    help="Self-hosted lead scoring: generate demo data, validate, train, promote, serve, score.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def reports_errors(command: Callable) -> Callable:
    """Turn errors a user can act on into a message on stderr and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from features.errors import LeadscoreError

        try:
            return command(*args, **kwargs)
        except LeadscoreError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(code=1) from None
        except KeyboardInterrupt:
            typer.secho("interrupted: nothing was written", fg=typer.colors.YELLOW, err=True)
            raise typer.Exit(code=130) from None

    return wrapper


class TableFormat(str, Enum):
    parquet = "parquet"
    csv = "csv"


@app.command()
@reports_errors
def generate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write leads, activities, outcomes and truth into.")],
    leads: Annotated[int, typer.Option("--leads", help="Number of leads to generate.")] = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed writes the same bytes.")] = 7,
    format: Annotated[TableFormat, typer.Option("--format", help="File format of the tables.")] = TableFormat.parquet,
    won_rate: Annotated[float, typer.Option("--won-rate", help="Target share of closed leads that are won.")] = 0.15,
) -> None:
    """Generate a synthetic B2B CRM export whose true probability of buying is known."""
    from leadscore.jobs.generate import run_generate

    run_generate(out=out, n_leads=leads, seed=seed, file_format=format.value, won_rate=won_rate)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
