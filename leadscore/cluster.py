"""Where `--dask` work runs: an existing Dask scheduler, or a LocalCluster sized to this machine.

`validate`, `train` and `score` take `--dask ADDRESS` (or the environment variable
LEADSCORE_DASK_ADDRESS): a scheduler address such as `tcp://scheduler:8786`, or `local` for a
LocalCluster of one single-threaded worker process per core, each allowed an equal share of the
machine's memory. Without either, nothing here runs and Dask is not imported (it is the optional
`leadscore[dask]` install).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from features.errors import LeadscoreError

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

ENV = "LEADSCORE_DASK_ADDRESS"
LOCAL = "local"
CONNECT_TIMEOUT_S = 20
log = logging.getLogger(__name__)


def dask_address(option: str | None) -> str | None:
    """The scheduler to use: the `--dask` option, else LEADSCORE_DASK_ADDRESS, else None (no Dask).
    An empty value is refused (a typo such as `--dask ""` must not silently mean one machine)."""
    value = option if option is not None else os.environ.get(ENV)
    if value is None:
        return None
    value = value.strip()
    if not value:
        where = "--dask" if option is not None else ENV
        raise LeadscoreError(f"{where} is empty: give a scheduler address (tcp://host:8786) or 'local' for a "
                             "LocalCluster on this machine, or leave it out to run without Dask")
    return value


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise LeadscoreError("--dask needs Dask, which is not installed: pip install 'leadscore[dask]' "
                             "(dask[dataframe] and distributed, the versions pinned in pyproject.toml)") from None
    return distributed


def local_cluster_size() -> tuple[int, int]:
    """(workers, bytes of memory each) for `--dask local`: one single-threaded worker per core,
    the machine's memory shared equally (psutil's total, as Dask's own default does)."""
    import psutil

    workers = max(1, os.cpu_count() or 1)
    return workers, psutil.virtual_memory().total // workers


@contextmanager
def connect(address: str) -> Iterator["Client"]:
    """A Dask client on `address` ('local' starts a LocalCluster and stops it on exit).

    Raises LeadscoreError naming the address when no scheduler answers within 20 s, or when
    Dask is not installed."""
    distributed = _import_distributed()
    if address.lower() == LOCAL:
        workers, memory = local_cluster_size()
        log.info("starting a LocalCluster: %d workers, 1 thread and %.1f GiB each", workers, memory / 2**30)
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, memory_limit=memory,
                                      processes=True, dashboard_address=":0") as cluster, \
                distributed.Client(cluster) as client, _work_lost(distributed, address), _quiet_when_stopped(client):
            yield client
        return
    client = _remote_client(distributed, address)
    try:
        with _watched(client, address), _work_lost(distributed, address), _quiet_when_stopped():
            yield client
    finally:
        client.close()


@contextmanager
def _work_lost(distributed, address: str) -> Iterator[None]:
    """Work the cluster lost (a worker killed mid-task: its results 'cancelled ... already
    forgotten', or a task that killed the workers it ran on) as LeadscoreError naming the
    address, not a traceback. The command's own clean-up ran as the error passed through it
    (a training run ends FAILED, nothing registered or half-written)."""
    lost = tuple(e for e in (getattr(distributed.client, "FutureCancelledError", None),
                             getattr(distributed, "KilledWorker", None),
                             getattr(distributed.comm.core, "CommClosedError", None)) if e is not None)
    try:
        yield
    except lost as exc:
        raise LeadscoreError(f"--dask {address}: the cluster lost work in progress ({type(exc).__name__}: "
                             f"{str(exc)[:200]}), e.g. a worker stopped or ran out of memory; nothing was "
                             "registered or written. Check the workers and run the command again") from None


def _silence_dask() -> None:
    for name in ("distributed", "asyncio"):  # asyncio: "Task exception was never retrieved"
        logging.getLogger(name).setLevel(logging.CRITICAL)


@contextmanager
def _quiet_when_stopped(local: "Client | None" = None) -> Iterator[None]:
    """When the command is stopped (Ctrl-C, or SIGTERM: leadscore.jobs.signals), Dask's own log
    lines as the client and cluster close over work in flight (AllExit and CancelledError
    tracebacks: a SIGTERM to `train --dask local` printed 14 lines of them) are dropped, here
    and on the workers of a LocalCluster (`local`, whose logs share this terminal), so the
    command's one line, "interrupted: nothing was registered ...", is what the user reads."""
    try:
        yield
    except KeyboardInterrupt:
        _silence_dask()
        if local is not None:
            try:
                local.run(_silence_dask)
            except Exception:  # noqa: BLE001 - a worker already gone: its lines are all that is left
                pass
        raise


NO_WORKERS_S = 60
"""How long a remote cluster may have no worker before the command gives up (its tasks would
wait for one forever: seen when every worker of a scheduler was killed mid-run)."""
_POLL_S = 2


@contextmanager
def _watched(client: "Client", address: str) -> Iterator[None]:
    """Within the block, a daemon thread asks the scheduler how many workers it has every 2 s;
    after NO_WORKERS_S without any it interrupts the command as Ctrl-C does (so what it was
    writing is removed the same way), and the interruption is reported as LeadscoreError
    naming the address. Only in the main thread, where the interruption lands."""
    import _thread

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    done, fired = threading.Event(), threading.Event()

    def watch() -> None:
        since = None
        while not done.wait(_POLL_S):
            try:
                workers = len(client.scheduler_info(n_workers=-1).get("workers", {}))
            except Exception:  # noqa: BLE001 - the scheduler itself gone: the command's own call fails
                return
            now = time.monotonic()
            since = None if workers else (since or now)
            if since is not None and now - since >= NO_WORKERS_S and not done.is_set():
                fired.set()
                _thread.interrupt_main()
                return

    watcher = threading.Thread(target=watch, name="dask-workers-watch", daemon=True)
    watcher.start()
    try:
        yield
    except KeyboardInterrupt:
        if fired.is_set():
            raise LeadscoreError(f"--dask {address}: the cluster has had no worker for {NO_WORKERS_S} s, so its "
                                 "work cannot go on; nothing was written. Start workers (dask worker "
                                 f"{address}) and run the command again") from None
        raise
    finally:
        done.set()


def _remote_client(distributed, address: str) -> "Client":
    """A client of the scheduler at `address`, or LeadscoreError within about CONNECT_TIMEOUT_S.

    Dask's own connect timeout does not cover the handshake: a server that accepts the
    connection but is not a scheduler (an HTTP server, e.g. the dashboard's port 8787 given for
    the scheduler's 8786) kept `Client(address)` waiting past 120 s in a test. So the client is
    made in a daemon thread that is given up on after CONNECT_TIMEOUT_S plus 5 s."""
    made: dict = {}

    def make() -> None:
        try:
            made["client"] = distributed.Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
        except BaseException as exc:  # noqa: BLE001 - reported below, in the caller's thread
            made["error"] = exc

    thread = threading.Thread(target=make, name="dask-connect", daemon=True)
    thread.start()
    thread.join(CONNECT_TIMEOUT_S + 5)
    if thread.is_alive():
        raise LeadscoreError(f"--dask {address}: something accepted the connection but did not answer as a Dask "
                             f"scheduler within {CONNECT_TIMEOUT_S + 5} s. Check the port: a scheduler listens on "
                             "8786 by default (8787 is its dashboard), or use --dask local")
    error = made.get("error")
    if isinstance(error, ValueError):
        raise LeadscoreError(f"--dask {address}: not a scheduler address ({error}); give one such as "
                             "tcp://host:8786, or 'local' for a LocalCluster on this machine") from None
    if isinstance(error, (OSError, TimeoutError)):
        raise LeadscoreError(f"--dask {address}: no Dask scheduler answered within {CONNECT_TIMEOUT_S} s "
                             f"({type(error).__name__}: {error}). Check the address (tcp://host:8786) and that the "
                             "scheduler is running, or use --dask local") from None
    if error is not None:  # e.g. MemoryError: another protocol's bytes read as a message length
        raise LeadscoreError(f"--dask {address}: the server there does not speak Dask's protocol "
                             f"({type(error).__name__}); check the scheduler's address and port (8786 by default), "
                             "or use --dask local") from None
    return made["client"]
