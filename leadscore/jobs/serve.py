"""`leadscore serve`: start the scoring service on a spec's champion model.

Which model: `--bundle PATH` if given; else the champion of the spec `--spec` names (a spec
file, spec name or model name; left out, the only one there is): its exported bundle
(models/bundles/<spec name>/champion), else the registry's champion, exported first. With none
of them the service refuses to start.
Everything the BentoML workers need is checked here first (the bundle loads, the database
takes the tables, the port is free), so a mistake is one clear message, not a crashing worker;
the checks that need heavy imports run in a child process (leadscore.jobs.serve_check).
"""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from pathlib import Path

from features.errors import LeadscoreError
from leadscore.jobs.serve_check import ServeCheck
from leadscore.settings import Settings, get_settings
from serving.auth import is_loopback  # the one rule, beside the service's Host check

NO_CHAMPION = "no champion model: train one with `leadscore train --spec ...`"
DEFAULT_PORT = 3000


def resolve_bundle(settings: Settings, bundle: Path | None = None, echo=print,
                   spec: str | Path | None = None) -> Path:
    """The model bundle folder to serve (see the module docstring)."""
    from leadscore.jobs.models import registry_may_exist, resolve_model

    if bundle is not None:
        bundle = Path(bundle)
        if not (bundle / "bundle.json").is_file():
            raise LeadscoreError(f"--bundle {bundle}: not a model bundle (no bundle.json); pass a folder "
                                 "written by `leadscore export`, e.g. models/bundles/demo-crm/champion")
        return bundle
    name = resolve_model(settings, spec, with_bundles=True, none_message=NO_CHAMPION, needs_champion=True)
    from training.registry import spec_name_of

    champion = settings.champion_bundle_dir(spec_name_of(name))
    if (champion / "bundle.json").is_file():
        return champion
    if registry_may_exist(settings):
        from training.registry import Registry, export_bundle

        registry = Registry.from_settings(settings, name)
        if registry.champion() is not None:
            version, path = export_bundle(registry, None, settings.spec_bundles_dir(registry.spec_name))
            echo(f"exported the registry's champion of {name} (version {version}) to {path}")
            return path
    raise LeadscoreError(f"{name} has no champion model: train one with `leadscore train --spec ...`, "
                         "or promote a version with `leadscore promote`")


def check_port(host: str, port: int) -> None:
    if not 0 < port < 65536:
        raise LeadscoreError(f"--port {port} is not a TCP port (1-65535)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            import errno

            if exc.errno == errno.EADDRINUSE:
                raise LeadscoreError(f"port {port} on {host} cannot be used ({exc.strerror}): another service "
                                     "may be running there; pass --port") from None
            raise LeadscoreError(f"--host {host} cannot be listened on ({exc.strerror}): pass an address of this "
                                 "machine, such as 127.0.0.1 (the default), ::1 or 0.0.0.0") from None


def service_environment(settings: Settings, bundle: Path, workers: int,
                        webhook_url: str | None = None) -> dict[str, str]:
    """The LEADSCORE_* variables the workers read (serving.config), validated here: a bad one
    (a webhook URL that is not http(s), ...) stops `leadscore serve` before it starts."""
    from serving.config import ServiceConfig

    env = {**os.environ, "LEADSCORE_BUNDLE": str(Path(bundle).resolve()),
           "LEADSCORE_DATABASE_URL": settings.resolved_database_url, "LEADSCORE_WORKERS": str(workers)}
    if webhook_url is not None:  # --webhook-url, over LEADSCORE_WEBHOOK_URL
        env["LEADSCORE_WEBHOOK_URL"] = webhook_url
    return ServiceConfig.from_env(env).to_env()


def prepare(settings: Settings, bundle: Path | None, workers: int, echo=print, spec: str | Path | None = None,
            webhook_url: str | None = None) -> tuple[ServeCheck, dict[str, str]]:
    """Resolve the bundle, validate the workers' environment and start the checks that need
    heavy imports (the bundle loads as a worker loads it, the database takes the tables), which
    run in a child process (leadscore.jobs.serve_check: its `result()` says); returns (check,
    environment). Use the check as a context manager: it is stopped if the command fails
    before it waits for it."""
    if workers < 1:
        raise LeadscoreError(f"--workers {workers}: at least one worker is needed")
    path = resolve_bundle(settings, bundle, echo, spec)
    env = service_environment(settings, path, workers, webhook_url)
    return ServeCheck(path, env["LEADSCORE_DATABASE_URL"]), env


LOOPBACK = "127.0.0.1"
"""Where the service listens unless told otherwise: this machine only."""


def keys_exist(database_url: str) -> bool:
    """Whether the service database holds any API key (then the service asks for one)."""
    from serving.keys import KeyRing
    from serving.store import make_engine
    from serving.store.api_keys import read_keys

    engine = make_engine(database_url)
    try:
        return KeyRing(read_keys(engine)).required
    finally:
        engine.dispose()


def check_exposure(host: str, keys: bool, insecure_no_auth: bool) -> str | None:
    """Refuse to listen beyond this machine while no API key exists (LeadscoreError saying how to
    make one); returns a warning to print when that risk was accepted with --insecure-no-auth."""
    if is_loopback(host) or keys:
        return None
    if not insecure_no_auth:
        raise LeadscoreError(
            f"--host {host} would let other machines reach the service, and it has no API keys: anyone could "
            "score leads and rewrite won or lost deals. Create a key first (`leadscore keys create --name crm "
            "--scope outcomes`), or serve on 127.0.0.1 behind a reverse proxy that authenticates; to accept the "
            "risk on a network you trust, add --insecure-no-auth")
    return (f"warning: listening on {host} with no API keys (--insecure-no-auth): anyone who reaches it can "
            "score leads and record outcomes")


@contextmanager
def own_metrics_folder():
    """BentoML keeps its workers' Prometheus files in one folder per user (~/bentoml/
    prometheus_multiproc_dir) and empties it when a server starts, so a second `leadscore serve`
    on the machine would silently wipe the first one's /metrics. Each server gets a folder of
    its own here, deleted when it stops."""
    import shutil
    import tempfile

    from bentoml._internal.configuration.containers import BentoMLContainer

    folder = tempfile.mkdtemp(prefix="leadscore-metrics-")
    BentoMLContainer.prometheus_multiproc_dir.set(folder)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_serve(port: int = DEFAULT_PORT, workers: int = 1, bundle: Path | None = None,
              host: str = LOOPBACK, settings: Settings | None = None, echo=print,
              spec: str | Path | None = None, insecure_no_auth: bool = False,
              webhook_url: str | None = None) -> None:
    """Start the service in the foreground until it is stopped (Ctrl-C or SIGTERM)."""
    settings = settings or get_settings()
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        host = LOOPBACK  # BentoML takes addresses only
    check, env = prepare(settings, bundle, workers, echo, spec, webhook_url)
    with check:  # in a child process while this one goes on (leadscore.jobs.serve_check)
        check_port(host, port)
        # serving.auth: without keys, only requests addressed here, and from here unless --insecure-no-auth
        os.environ.update(env, LEADSCORE_HOST=host, LEADSCORE_INSECURE_NO_AUTH=str(insecure_no_auth).lower())
        os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")

        from serving.service import LeadScoringService

        served = check.result()
    keys = keys_exist(env["LEADSCORE_DATABASE_URL"])  # the tables exist now
    warning = check_exposure(host, keys, insecure_no_auth)
    LeadScoringService.config["workers"] = workers
    address = f"[{host}]" if ":" in host else host
    echo(f"serving {served.spec} model version {served.version} ({env['LEADSCORE_BUNDLE']}) on "
         f"http://{address}:{port} with {workers} worker{'s' if workers > 1 else ''}; pages for sales and marketing "
         f"at http://{address}:{port}/ui ; API docs at http://{address}:{port}/ ; Ctrl-C to stop")
    echo("API keys are asked for (`leadscore keys list`)" if keys else
         "no API keys exist: nothing is asked for (`leadscore keys create` to start asking)")
    if warning:
        echo(warning)
    if env.get("LEADSCORE_WEBHOOK_URL"):
        from serving.config import shown_url

        echo(f"stage rises to {env['LEADSCORE_WEBHOOK_STAGES']} are posted to {shown_url(env['LEADSCORE_WEBHOOK_URL'])}"
             + ("" if env.get("LEADSCORE_WEBHOOK_SECRET") else " unsigned (no LEADSCORE_WEBHOOK_SECRET)"))
    with own_metrics_folder():
        LeadScoringService.serve_http(port=port, host=host)
    echo("service stopped")
