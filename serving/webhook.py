"""Telling sales when it matters: a lead whose stage rises (to MQL or SQL, LEADSCORE_WEBHOOK_STAGES)
is posted to a configured webhook (LEADSCORE_WEBHOOK_URL) as JSON, so a CRM workflow or a chat
channel hears of a new SQL within seconds.

Where it happens, off /score's path:
1. /score, for the leads it scored into a watched stage, hands their answers' reasons to the
   score log with their rows (`StageWatch.watched`: a dict, no I/O).
2. The score-log writer, in the transaction that logs them, reads those leads' previous stages
   (one indexed read per batch, serving.store.stage_rises) and, once the batch is committed and
   its requests answered, passes the rises to `StageWatch.rose`, which queues them.
3. A sender thread per worker (`WebhookSender`) posts each, with retries.

What is never told: a score that did not raise the stage (the same or a lower one); a score dated
before the lead's latest (a backfill); the scores of a batch the database could not take (kept in
the score log's journal: their previous stage cannot be read; counted `not_checked`); batch
scoring (`leadscore score`), which scores lists of leads, not one arriving. A lead's first score
in a watched stage is a rise from nothing (`previous_stage` null).

Delivery: a bounded queue (LEADSCORE_WEBHOOK_QUEUE; when full, the notification is dropped,
logged and counted `dropped`); each POST waits at most LEADSCORE_WEBHOOK_TIMEOUT_SECONDS;
connection errors, timeouts, 408, 429 and 5xx are retried with exponential back-off and jitter
(Retry-After honoured, up to MAX_BACKOFF_SECONDS), up to LEADSCORE_WEBHOOK_ATTEMPTS attempts in
all, then given up (`failed`, logged); another 4xx is not retried (`rejected`). Counted in
/metrics as `leadscore_webhook_deliveries_total{outcome=...}` (OUTCOMES, a fixed set).

Signature: with LEADSCORE_WEBHOOK_SECRET, `X-Leadscore-Signature: sha256=<hex>` is the
HMAC-SHA256, keyed by the secret, of `<X-Leadscore-Timestamp>.<body bytes>` (docs/api.md shows
a receiver's check). Retries of one notification keep its `X-Leadscore-Delivery` id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import random
import threading
import time
import uuid
from email.utils import parsedate_to_datetime
from typing import Any, Callable

import httpx

from serving.config import shown_url

logger = logging.getLogger("leadscore.webhook")

OUTCOMES = ("delivered", "retried", "failed", "rejected", "dropped", "not_checked")
"""The `outcome` label's values: delivered (2xx), retried (an attempt that will be tried again),
failed (given up after the last attempt), rejected (a 4xx not worth retrying), dropped (the
queue was full), not_checked (scores journaled while the database was down)."""
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 60.0
RETRY_STATUSES = frozenset({408, 429})
TOP_REASONS = 3
"""Reasons for and against sent with each notification."""
EVENT = "lead.stage_rose"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of `<timestamp>.<body>` keyed by the shared secret."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def signature_matches(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """A receiver's check (constant time): the header is the body's signature."""
    return hmac.compare_digest(signature(secret, timestamp, body), header)


def backoff_seconds(attempt: int, retry_after: float | None = None, rng: random.Random = random) -> float:
    """The wait before attempt `attempt + 1` (attempt 1 just failed): Retry-After when the
    receiver gave one, else 0.5 s doubling each attempt, with full jitter (half to all of it);
    never above MAX_BACKOFF_SECONDS."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), MAX_BACKOFF_SECONDS)
    ceiling = min(FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)
    return ceiling * (0.5 + 0.5 * rng.random())


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After in seconds (a number of seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


class WebhookSender:
    """Posts notifications to one URL from a thread of its own (see the module docstring).
    `count(outcome, n)` counts them (the service's Prometheus counter)."""

    def __init__(self, url: str, *, secret: str = "", timeout: float = 5.0, attempts: int = 5,
                 max_queued: int = 10_000, count: Callable[[str, int], None] = lambda outcome, n: None,
                 sleep: Callable[[float], bool] | None = None):
        self.url, self.secret, self.timeout, self.attempts = url, secret, timeout, attempts
        self.shown = shown_url(url)  # what the logs say: no user name or password
        self.count = count
        self._queue: queue.Queue = queue.Queue(maxsize=max_queued)
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait  # returns True when stopping
        self._thread: threading.Thread | None = None
        self._client: httpx.Client | None = None
        self.delivered = self.failed = 0

    def start(self) -> None:
        if self._thread is None:
            self._client = httpx.Client(timeout=self.timeout, follow_redirects=False,
                                        headers={"User-Agent": "leadscore-webhook"})
            self._thread = threading.Thread(target=self._run, name="webhook-sender", daemon=True)
            self._thread.start()

    def offer(self, payloads: list[dict[str, Any]]) -> None:
        """Queue notifications without waiting; those that do not fit are dropped and counted."""
        dropped = 0
        for payload in payloads:
            try:
                self._queue.put_nowait(payload)
            except queue.Full:
                dropped += 1
        if dropped:
            self.count("dropped", dropped)
            logger.warning("webhook: %d notifications dropped: %d are waiting already (LEADSCORE_WEBHOOK_QUEUE)",
                           dropped, self._queue.maxsize)

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                payload = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self.deliver(payload)
            except Exception:  # noqa: BLE001 - a bug costs one notification, never the sender
                logger.exception("webhook: a notification could not be sent")
                self.count("failed", 1)

    def deliver(self, payload: dict[str, Any]) -> str:
        """Post one notification, retrying as the module docstring says; returns its outcome
        (delivered, failed, rejected, or "stopped" when the service stops meanwhile)."""
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        delivery = str(uuid.uuid4())
        client = self._client or httpx.Client(timeout=self.timeout, follow_redirects=False)
        what = f"lead {payload.get('lead_id')!r} {payload.get('stage')}"
        for attempt in range(1, self.attempts + 1):
            timestamp = str(int(time.time()))
            headers = {"Content-Type": "application/json", "X-Leadscore-Event": EVENT,
                       "X-Leadscore-Delivery": delivery, "X-Leadscore-Timestamp": timestamp,
                       "X-Leadscore-Attempt": str(attempt)}
            if self.secret:
                headers["X-Leadscore-Signature"] = signature(self.secret, timestamp, body)
            retry_after = None
            try:
                response = client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    self.delivered += 1
                    self.count("delivered", 1)
                    return "delivered"
                problem = f"HTTP {status}"
                if status < 500 and status not in RETRY_STATUSES:
                    self.failed += 1
                    self.count("rejected", 1)
                    logger.error("webhook: %s refused the notification of %s with %s; not retried", self.shown, what,
                                 problem)
                    return "rejected"
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            if attempt == self.attempts:
                break
            self.count("retried", 1)
            wait = backoff_seconds(attempt, retry_after)
            logger.warning("webhook: attempt %d/%d to tell %s of %s failed (%s); again in %.1f s", attempt,
                           self.attempts, self.shown, what, problem, wait)
            if self._sleep(wait):
                return "stopped"
        self.failed += 1
        self.count("failed", 1)
        logger.error("webhook: gave up telling %s of %s after %d attempts (%s)", self.shown, what, self.attempts, problem)
        return "failed"

    def close(self, timeout: float = 2.0) -> None:
        """Stop the sender (what is still queued is not sent: it is logged)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._queue.qsize():
            logger.warning("webhook: %d notifications not sent at shutdown", self._queue.qsize())
        if self._client is not None:
            self._client.close()


class StageWatch:
    """Between /score, the score-log writer and the sender: which leads to watch, and the
    payloads of their rises (see the module docstring)."""

    def __init__(self, sender: WebhookSender, stages: frozenset[str], id_key: str = "lead_id"):
        self.sender, self.stages, self.id_key = sender, frozenset(stages), id_key

    def watched(self, answers: list[dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
        """lead id -> what its notification needs beyond the logged row, for the answers in a
        watched stage (None when there are none): cheap, on /score's path."""
        key, stages = self.id_key, self.stages
        out = {a[key]: {"score": a["score"], "reasons_for": a["reasons_for"][:TOP_REASONS],
                        "reasons_against": a["reasons_against"][:TOP_REASONS]}
               for a in answers if a["stage"] in stages}
        return out or None

    def rose(self, rises: list[tuple[tuple, str | None, dict[str, Any]]]) -> None:
        """From the writer, after the commit: (row, previous stage, what `watched` kept) per rise."""
        self.sender.offer([self.payload(row, previous, told) for row, previous, told in rises])

    def not_checked(self, leads: int) -> None:
        self.sender.count("not_checked", leads)
        logger.warning("webhook: %d scores in a watched stage went to the journal (the database is unavailable): "
                       "their previous stages cannot be read, nobody is told of them", leads)

    def payload(self, row: tuple, previous: str | None, told: dict[str, Any]) -> dict[str, Any]:
        lead_id, scored_at, probability, stage, version, spec = row[:6]
        return {"event": EVENT, "lead_id": lead_id, self.id_key: lead_id, "stage": stage, "previous_stage": previous,
                "probability": probability, "score": told.get("score"), "model_version": version, "spec": spec,
                "scored_at": scored_at.isoformat(timespec="seconds") + "Z",
                "reasons_for": told.get("reasons_for", []), "reasons_against": told.get("reasons_against", [])}
