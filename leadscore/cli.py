"""The `leadscore` command. Each command imports its heavy machinery only when it runs, so
`leadscore --help` stays fast."""

from __future__ import annotations

import functools
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer
from typer.core import TyperGroup


class CommandGroup(TyperGroup):
    """Typer's command group, its own flags that a command's run leaves out (--help,
    --install-completion, --show-completion) reading False rather than None: Typer 0.29
    coerces a None through a pydantic TypeAdapter, so every `leadscore COMMAND --help` imported
    pydantic (about 0.1 s of its 0.35 s) for flags it never looks at; the callbacks of these
    flags treat False and None alike (benchmarks/startup.py)."""

    TYPER_FLAGS = ("help", "install_completion", "show_completion")

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            if param.name in self.TYPER_FLAGS and param.default is None and getattr(param, "is_flag", False):
                param.default = False
        return params


from leadscore.cluster import dask_address

app = typer.Typer(
    name="leadscore",
    help="Self-hosted lead scoring: generate demo data, validate, train, promote, serve, score.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Click's plain help and usage errors, not Rich's panels: drawing them imported Rich's
    # markdown, syntax and traceback modules first. Every command's --help took 0.28-0.36 s
    # with them and 0.15-0.21 s plain, the same words (benchmarks/startup.py, 2026-12-02).
    rich_markup_mode=None,
    cls=CommandGroup,
)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"leadscore {version('leadscore')}")
        except PackageNotFoundError:  # pragma: no cover - run from a tree that was never installed
            typer.echo("leadscore (not installed: `pip install -e .` gives it a version)")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Print the installed version and exit.")] = False,
) -> None:
    """Self-hosted lead scoring: generate demo data, validate, train, promote, serve, score."""


class OutputFormat(str, Enum):
    text = "text"
    json = "json"


FormatOption = Annotated[OutputFormat, typer.Option(
    "--format", help="text: for people; json: one JSON document on stdout for scripts (messages go to stderr; "
    "the exit code is the same).")]
DaskOption = Annotated[Optional[str], typer.Option("--dask", help="Run on a Dask cluster: a scheduler address (tcp://host:8786), or 'local' for a LocalCluster of one worker per core on this machine; default: the LEADSCORE_DASK_ADDRESS environment variable, else no Dask. Tables may be folders or globs of Parquet files. Needs Dask: pip install 'leadscore\[dask]'.")]


def _console(format: OutputFormat):
    """Where a command's words go: stdout, or stderr when stdout carries the JSON."""
    from rich.console import Console

    return Console(stderr=format == OutputFormat.json)


def _print_json(document) -> None:
    import json

    typer.echo(json.dumps(document, indent=1, allow_nan=False))


def _iso_time(value: Optional[str]) -> Optional[str]:
    """An option's time, checked when the command line is read: unreadable, it is a usage error
    (exit 2), by the one parser the command then uses (leadscore.jobs.score.parse_time)."""
    if value is not None:
        from features.errors import DataError
        from leadscore.jobs.score import parse_time

        try:
            parse_time(value, "the time")
        except DataError as exc:
            raise typer.BadParameter(str(exc).removeprefix("the time: ")) from None
    return value


def reports_errors(command: Callable) -> Callable:
    """Turn errors a user can act on into a message on stderr and exit code 1 (with `--format
    json`, also `{"error": message}` on stdout)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from features.errors import LeadscoreError

        try:
            return command(*args, **kwargs)
        except LeadscoreError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            if kwargs.get("format") == OutputFormat.json:  # a script reading stdout gets a document too
                _print_json({"error": str(exc)})
            raise typer.Exit(code=1) from None
        except KeyboardInterrupt:
            typer.secho("interrupted: nothing was registered or left half-written", fg=typer.colors.YELLOW, err=True)
            raise typer.Exit(code=130) from None

    return wrapper


class TableFormat(str, Enum):
    parquet = "parquet"
    csv = "csv"


@app.command()
@reports_errors
def generate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write leads, activities, outcomes and truth into.")],
    leads: Annotated[int, typer.Option("--leads", min=1, help="Number of leads to generate.")] = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed writes the same bytes.")] = 7,
    format: Annotated[TableFormat, typer.Option("--format", help="File format of the tables.")] = TableFormat.parquet,
    won_rate: Annotated[float, typer.Option("--won-rate", help="Target share of closed leads that are won.")] = 0.15,
    careless_history: Annotated[float, typer.Option("--careless-history", help="Share of older deals whose outcome the CRM recorded at random (worse training data; the most recent 30% stay true).")] = 0.0,
    seasonality: Annotated[float, typer.Option("--seasonality", help="Swing of the won rate with the month a lead was created, in log-odds (0 to 3; with 0.5 the default 15% goes from about 10% to 21% by month, highest in May).")] = 0.0,
    chunk_leads: Annotated[Optional[int], typer.Option("--chunk-leads", min=1, help="Generate this many leads at a time into partitioned Parquet (a folder of files per table, one file per chunk), for CRMs too big for memory; each chunk has its own seed, so the data differ from an unchunked run with the same seed (docs/scale.md). Parquet only.")] = None,
) -> None:
    """Generate a synthetic B2B CRM export whose true probability of buying is known."""
    from leadscore.jobs.generate import run_generate, run_generate_chunks

    if chunk_leads is not None:
        if format != TableFormat.parquet or careless_history:
            raise typer.BadParameter("--chunk-leads writes Parquet only, without --careless-history",
                                     param_hint="'--chunk-leads'")
        run_generate_chunks(out=out, n_leads=leads, chunk_leads=chunk_leads, seed=seed, won_rate=won_rate,
                            seasonality=seasonality)
        return
    run_generate(out=out, n_leads=leads, seed=seed, file_format=format.value, won_rate=won_rate,
                 careless_history=careless_history, seasonality=seasonality)


class ValidationPurpose(str, Enum):
    train = "train"
    score = "score"


@app.command()
@reports_errors
def validate(
    spec: Annotated[Path, typer.Option("--spec", help="Dataset spec (YAML), e.g. data/specs/demo_crm.yaml.")],
    data: Annotated[Optional[Path], typer.Option("--data", help="Folder of the tables (or the leads file of a flat export); default: the spec's data_dir.")] = None,
    profile: Annotated[Optional[Path], typer.Option("--profile", help="Training profile (profile.json of a model bundle); default: the champion's, when it exists and fits the spec.")] = None,
    no_profile: Annotated[bool, typer.Option("--no-profile", help="Do not compare with any training profile.")] = False,
    docs: Annotated[Optional[Path], typer.Option("--docs", help="Folder for the Data Docs HTML; default: data/validation/<spec name>/.")] = None,
    purpose: Annotated[ValidationPurpose, typer.Option("--purpose", help="train: all rules; score: batch-scoring input, outcome rules skipped.")] = ValidationPurpose.train,
    save: Annotated[bool, typer.Option("--save", help="Also write a Great Expectations project (the suites, the tables as checked, a checkpoint) that runs with GX alone, to gx/<spec name>/ beside the spec.")] = False,
    save_to: Annotated[Optional[Path], typer.Option("--save-to", file_okay=False, help="Write that Great Expectations project to this folder instead (not with --save); only a project leadscore saved there for the same spec is replaced.")] = None,
    format: FormatOption = OutputFormat.text,
    dask: DaskOption = None,
) -> None:
    """Check a CRM export against its spec (and the training profile): exit 1 if a rule fails.

    A bar on stderr follows the checks when it is a terminal (not with --format json)."""
    from leadscore.jobs.validate import run_validate

    if save and save_to is not None:
        raise typer.BadParameter("--save and --save-to do not go together: --save writes the project to "
                                 "gx/<spec name>/ beside the spec, --save-to to the folder it names; give one",
                                 param_hint="'--save' / '--save-to'")
    run = run_validate(spec, data=data, profile_path=profile, docs_dir=docs, purpose=purpose.value,
                       use_champion=not no_profile, console=_console(format),
                       show_progress=format == OutputFormat.text, save=save, save_to=save_to,
                       dask=dask_address(dask))
    if format == OutputFormat.json:
        _print_json(run.facts())
    if not run.success:
        raise typer.Exit(code=1)


@app.command()
@reports_errors
def leakage(
    spec: Annotated[Path, typer.Option("--spec", help="Dataset spec (YAML), e.g. data/specs/x_education.yaml.")],
    data: Annotated[Optional[Path], typer.Option("--data", help="Folder of the tables (or the leads file of a flat export); default: the spec's data_dir.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="Training config (YAML): its leakage_auc and min_category_count, as `leadscore train --config` uses them; default: the built-in config.")] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", min=0.5, max=1.0, help="Flag columns whose ROC-AUC alone reaches this (above 0.5, at most 1); default: the config's leakage_auc (0.95).")] = None,
    format: FormatOption = OutputFormat.text,
) -> None:
    """Score every column alone against the outcome on the training examples and flag those
    that leak it, as `leadscore train` checks before fitting. Exit 0: no model feature is
    flagged (flagged after_contact columns are shown, not counted); exit 3: a model feature is
    flagged and not under allow_leaky (`leadscore train` refuses such a lead column); exit 1:
    the spec, the config or the data cannot be read."""
    from leadscore.jobs.leakage import LEAK_EXIT, run_leakage
    from training.config import load_config, with_leakage_auc

    settings = load_config(config)
    if threshold is not None:  # the config's own rule for leakage_auc
        settings = with_leakage_auc(settings, threshold, "--threshold")
    run = run_leakage(spec, data, settings.leakage_auc, console=_console(format),
                      min_category_count=settings.min_category_count)
    if format == OutputFormat.json:
        _print_json(run.facts())
    if run.leaks:
        raise typer.Exit(code=LEAK_EXIT)


class PromoteChoice(str, Enum):
    auto = "auto"
    force = "force"
    never = "never"


SpecOption = Annotated[Path, typer.Option("--spec", help="Dataset spec (YAML), e.g. data/specs/demo_crm.yaml.")]
DataOption = Annotated[Optional[Path], typer.Option("--data", help="Folder of the tables (or the leads file of a flat export); default: the spec's data_dir.")]
ModelOption = Annotated[Optional[str], typer.Option("--spec", help="Which spec's model: a dataset spec file, a spec name or the model name (leadscore-<spec name>); default: the only registered model.")]


@app.command()
@reports_errors
def train(
    spec: SpecOption,
    config: Annotated[Optional[Path], typer.Option("--config", help="Training config (YAML); default: built-in defaults.")] = None,
    data: DataOption = None,
    promote: Annotated[PromoteChoice, typer.Option("--promote", help="auto: champion only if every gate passes (exit 4 otherwise); force: champion anyway, recorded with the failed gates; never: register only.")] = PromoteChoice.auto,
    tune: Annotated[int, typer.Option("--tune", min=0, help="Try N hyperparameter settings (nested MLflow runs) and keep the best on validation.")] = 0,
    by: Annotated[Optional[str], typer.Option("--by", help="Who forces a promotion (recorded with --promote force); default: the user name of the environment.")] = None,
    with_logged_outcomes: Annotated[bool, typer.Option("--with-logged-outcomes", help="Add the leads scored under this spec (the score log in LEADSCORE_DATABASE_URL) whose outcomes were recorded since, as they were scored (profile and activities known then), to the export's history; leads the export holds are taken from the export. Exit 1 when there are none.")] = False,
    dask: DaskOption = None,
) -> None:
    """Validate, train, set MQL/SQL thresholds, check the gates, register the version in the
    spec's own model and make it champion or challenger. Exit 4: registered, not promoted."""
    from leadscore.jobs.train import NOT_PROMOTED_EXIT, run_train

    outcome = run_train(spec, config, data, promote.value, tune=tune, by=by, with_logged_outcomes=with_logged_outcomes,
                        dask=dask_address(dask))
    if promote == PromoteChoice.auto and not outcome.promoted:
        raise typer.Exit(code=NOT_PROMOTED_EXIT)


@app.command()
@reports_errors
def stages(
    config: Annotated[Path, typer.Option("--config", help="Training config (YAML) with the new stage policy under `stages` (its `promotion` gates decide the champion).")],
    spec: ModelOption = None,
    version: Annotated[Optional[int], typer.Option("--version", help="Registered version whose stages to re-plan; default: the champion, else the latest.")] = None,
    promote: Annotated[PromoteChoice, typer.Option("--promote", help="auto: champion only if every gate passes (exit 4 otherwise); force: champion anyway; never: register only.")] = PromoteChoice.auto,
    by: Annotated[Optional[str], typer.Option("--by", help="Who forces a promotion (recorded with --promote force); default: the user name of the environment.")] = None,
) -> None:
    """Re-plan the MQL/SQL stages of a registered version from its stored holdout predictions
    (no retraining) and register them, with the same model, as a new version. Exit 4:
    registered, not promoted."""
    from leadscore.jobs.stages import run_stages
    from leadscore.jobs.train import NOT_PROMOTED_EXIT

    outcome = run_stages(spec, config, version, promote.value, by=by)
    if promote == PromoteChoice.auto and not outcome.promoted:
        raise typer.Exit(code=NOT_PROMOTED_EXIT)


@app.command()
@reports_errors
def models(spec: ModelOption = None, format: FormatOption = OutputFormat.text) -> None:
    """List a spec's registered versions with their holdout metrics, gates and aliases."""
    from leadscore.jobs.models import run_models

    facts = run_models(spec, console=_console(format))
    if format == OutputFormat.json:
        _print_json(facts)


@app.command()
@reports_errors
def promote(
    version: Annotated[int, typer.Argument(help="Registered version to make the champion.")],
    spec: ModelOption = None,
    by: Annotated[Optional[str], typer.Option("--by", help="Who promotes (recorded); default: the user name of the environment.")] = None,
) -> None:
    """Make VERSION the champion of its spec by hand, and export it for the service."""
    from leadscore.jobs.models import run_promote

    typer.echo(run_promote(version, spec, by))


@app.command()
@reports_errors
def rollback(spec: ModelOption = None) -> None:
    """Put a spec's previous champion back, and export it for the service."""
    from leadscore.jobs.models import run_rollback

    typer.echo(run_rollback(spec))


keys_app = typer.Typer(cls=CommandGroup, help="API keys for the service: each request but /livez, /readyz and /metrics needs one once a key exists.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


class KeyScope(str, Enum):
    score = "score"
    outcomes = "outcomes"
    admin = "admin"


@keys_app.command("create")
@reports_errors
def keys_create(
    name: Annotated[str, typer.Option("--name", help="Who or what uses the key, e.g. crm or sales-pages.")],
    scope: Annotated[KeyScope, typer.Option("--scope", help="score: score leads, read stages, the model, the report and the pages; outcomes: also record won/lost; admin: everything.")] = KeyScope.score,
) -> None:
    """Create a key and print it once (the database keeps only its hash)."""
    from leadscore.jobs.keys import run_create

    run_create(name, scope.value, echo=typer.echo)


@keys_app.command("list")
@reports_errors
def keys_list() -> None:
    """List the keys: id, name, scope, when created and revoked (never a secret)."""
    from leadscore.jobs.keys import run_list

    run_list(echo=typer.echo)


@keys_app.command("revoke")
@reports_errors
def keys_revoke(
    key: Annotated[str, typer.Argument(help="The key's id (from `leadscore keys list`) or name.")],
) -> None:
    """Revoke a key: the service refuses it from then on (a running one within seconds)."""
    from leadscore.jobs.keys import run_revoke

    run_revoke(key, echo=typer.echo)


@app.command()
@reports_errors
def export(
    version: Annotated[Optional[int], typer.Argument(help="Version to export; default: the champion.")] = None,
    spec: ModelOption = None,
) -> None:
    """Write a version as a self-contained bundle under models/bundles/<spec name>/ (no MLflow needed to serve it)."""
    from leadscore.jobs.models import run_export

    typer.echo(run_export(version, spec))


@app.command()
@reports_errors
def serve(
    port: Annotated[int, typer.Option("--port", "-p", help="TCP port to listen on.")] = 3000,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes (each loads the model once).")] = 1,
    bundle: Annotated[Optional[Path], typer.Option("--bundle", help="Model bundle folder to serve; default: the spec's champion (models/bundles/<spec name>/champion, else exported from the registry).")] = None,
    host: Annotated[Optional[str], typer.Option("--host", help="Address to listen on; default 127.0.0.1, this machine only. Another address (0.0.0.0: every one) needs an API key to exist (`leadscore keys create`) or --insecure-no-auth.")] = None,
    spec: ModelOption = None,
    insecure_no_auth: Annotated[bool, typer.Option("--insecure-no-auth", help="Listen beyond this machine although no API key exists: anyone who reaches the service can score leads and record outcomes.")] = False,
    webhook_url: Annotated[Optional[str], typer.Option("--webhook-url", help="http(s) URL to post each lead whose stage rises to MQL or SQL to (default: LEADSCORE_WEBHOOK_URL, else none); sign with LEADSCORE_WEBHOOK_SECRET (docs/api.md, \"Webhook\").")] = None,
) -> None:
    """Start the scoring API (POST /score, /outcomes; GET /stages, /model, /report, the /ui pages, /livez, /readyz, /metrics)."""
    from leadscore.jobs.serve import LOOPBACK, run_serve

    run_serve(port=port, workers=workers, bundle=bundle, host=host or LOOPBACK, echo=typer.echo, spec=spec,
              insecure_no_auth=insecure_no_auth, webhook_url=webhook_url)


@app.command()
@reports_errors
def build(
    spec: ModelOption = None,
    bundle: Annotated[Optional[Path], typer.Option("--bundle", help="Model bundle folder to build in; default: the spec's champion, as `leadscore serve` chooses it.")] = None,
) -> None:
    """Build a Bento (BentoML) of the scoring API with the spec's champion: saved in BentoML's model store, then `bentoml build` on bentofile.yaml; prints the Bento's tag and how to serve or containerize it."""
    from leadscore.jobs.build import run_build

    run_build(spec=spec, bundle=bundle, echo=typer.echo)


@app.command()
@reports_errors
def score(
    input: Annotated[Path, typer.Argument(help="Leads file to score (.csv, .tsv, .txt, .xlsx or .parquet), or a folder or glob of .parquet files, with the spec's lead columns.")],
    output: Annotated[Path, typer.Argument(help="Where to write the scores (.csv or .parquet; with --dask a folder of Parquet files); written only if every check passes.")],
    spec: Annotated[Optional[str], typer.Option("--spec", help="Dataset spec (YAML) of the file, whose champion scores it; or a spec or model name (the spec the model carries is used); default: the only registered model.")] = None,
    bundle: Annotated[Optional[Path], typer.Option("--bundle", help="Model bundle folder; default: the spec's champion.")] = None,
    as_of: Annotated[Optional[str], typer.Option("--as-of", callback=_iso_time, help="Score as of this time (ISO 8601); default: now, UTC.")] = None,
    activities: Annotated[Optional[Path], typer.Option("--activities", help="Activities file; default: the one in the spec's data folder.")] = None,
    reasons: Annotated[int, typer.Option("--reasons", min=0, max=5, help="Reasons for and against per lead (0-5; 0 is fastest).")] = 3,
    language: Annotated[Optional[str], typer.Option("--language", help="Language of the reasons: en or it; default: LEADSCORE_LANGUAGE, else en.")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
    log: Annotated[bool, typer.Option("--log/--no-log", help="Write the scores to the score log (the database the service and `leadscore report` use), as of --as-of; the output then has each lead's trend since its previous logged score (trend, trend_points, trend_days). Not with --dask: add --no-log there.")] = True,
    dask: DaskOption = None,
) -> None:
    """Score a file of leads: probability, score, stage and top reasons, after validating it;
    the scores also go to the score log, so outcomes can be reported for these leads."""
    from leadscore.jobs.score import run_score

    run_score(spec, input, output, bundle=bundle, as_of=as_of, activities=activities, reasons=reasons,
              language=language, show_progress=progress, log=log, dask=dask_address(dask))


outcomes_app = typer.Typer(cls=CommandGroup, help="Outcomes of closed deals, for `leadscore report`.", no_args_is_help=True)
app.add_typer(outcomes_app, name="outcomes")


@outcomes_app.command("import")
@reports_errors
def outcomes_import(
    file: Annotated[Path, typer.Argument(help="A CRM export of closed deals (.csv, .xlsx or .parquet) with the columns of the spec's outcomes table.")],
    spec: Annotated[Path, typer.Option("--spec", help="Dataset spec (YAML) whose outcomes table says how to read the file.")],
) -> None:
    """Record closed deals from a file, read by the same rules as training data; all or
    nothing: a value that cannot be read is named, and nothing is recorded."""
    from leadscore.jobs.outcomes import run_import

    run_import(spec, file)


@app.command()
@reports_errors
def report(
    spec: ModelOption = None,
    since: Annotated[Optional[str], typer.Option("--since", callback=_iso_time, help="First day (or time) of scores to report on, ISO 8601; default: the first logged.")] = None,
    until: Annotated[Optional[str], typer.Option("--until", callback=_iso_time, help="Report on scores before this day (or time), ISO 8601; default: all.")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the whole report as JSON to this file (docs/report.md lists its keys); --format json prints it on stdout.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Also write the report as one self-contained HTML page with charts (opens offline).")] = None,
    fail_on: Annotated[Optional[str], typer.Option("--fail-on", help="Comma-separated checks that make the command exit 5: broken-promise (a stage buys below its promise by more than chance explains), drift (an input's PSI above 0.2).")] = None,
    format: FormatOption = OutputFormat.text,
) -> None:
    """Do the MQL and SQL stages keep their promise? The scores logged in a period (by the
    service and by `leadscore score`) against the outcomes sales reported: per stage the buy
    rate promised and observed with a 95% interval, and what the open leads are expected to do."""
    from leadscore.jobs.report import run_report

    report, code = run_report(spec, since, until, json_out, [f.strip() for f in fail_on.split(",") if f.strip()]
                              if fail_on else None, html_path=out, console=_console(format))
    if format == OutputFormat.json:
        _print_json(report)
    if code:
        raise typer.Exit(code=code)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
