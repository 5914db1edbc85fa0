"""S3 bucket notifications read from an SQS queue: which objects were created, so a sensor need not list.

Events only say where to look: what is due is still decided by the handled-versions index, so a
message delivered twice, late, or for a version already handled requests nothing new. A lost
event is found by the sensor's reconciling listing. Imported only in notification mode (boto3).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus, urlparse

import boto3
import botocore.config
import botocore.exceptions

from dagster_project.errors import EnvironmentFailure
from dagster_project.landing.s3 import _NETWORK_ERRORS, _timestamp
from dagster_project.settings import Settings, SettingsError, check_landing_queue

log = logging.getLogger(__name__)

BATCH = 10  # ReceiveMessage's maximum
# Messages one tick takes at most: a tick stays short however large the backlog; the rest come next tick.
MAX_MESSAGES = 1000
# Received messages stay hidden from other consumers this long: longer than a tick (a reconciling
# listing of 100,000 objects included); those not finished are made visible again at its end.
VISIBILITY_SECONDS = 300


class LandingQueueUnavailable(EnvironmentFailure):
    """The landing queue could not be reached (or does not exist): the tick is skipped and retried."""


@dataclass(frozen=True)
class Created:
    """One ObjectCreated record: the object's bucket, full key (decoded), size, ETag and event time."""

    bucket: str
    key: str
    size: int
    etag: str
    time: datetime


@dataclass(frozen=True)
class Message:
    """One received message: its receipt handle and the objects it says were created (maybe none)."""

    receipt: str
    created: list[Created] = field(default_factory=list)


def parse_body(body: str) -> list[Created]:
    """The ObjectCreated records of a message body; `[]` for test events, removals and anything else.

    The body is S3's event JSON, or an SNS notification wrapping it (S3 → SNS → SQS fan-out without
    raw delivery). Keys arrive URL-encoded with `+` for a space (`a+b%C3%A9.csv` is `a bé.csv`).
    """
    try:
        event = json.loads(body)
        if isinstance(event, dict) and event.get("Type") == "Notification" and "Message" in event:
            event = json.loads(event["Message"])
    except (TypeError, ValueError):
        log.warning("landing queue: a message that is not JSON was dropped: %.200s", body)
        return []
    if not isinstance(event, dict):
        return []
    created = []
    for record in event.get("Records") or []:  # s3:TestEvent has none
        try:
            if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
                continue  # ObjectRemoved and others: a removed file needs no run
            s3 = record["s3"]
            created.append(
                Created(
                    bucket=s3["bucket"]["name"],
                    key=unquote_plus(s3["object"]["key"]),
                    size=int(s3["object"].get("size", 0)),
                    etag=str(s3["object"].get("eTag", "")).strip('"'),
                    time=_timestamp(record["eventTime"]),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            log.warning("landing queue: a record that is not an S3 event was dropped: %.200s", record)
    return created


def queue_url(settings: Settings, dataset: str) -> str | None:
    """The queue of `dataset`'s events, or None in listing mode.

    Raises:
        SettingsError: The queue is set with a landing zone not on S3, or without `{dataset}`.
    """
    check_landing_queue(settings)
    url = settings.landing_queue_url
    return url.replace("{dataset}", dataset) if url else None


def _region(url: str, region: str | None) -> str | None:
    """The region of an AWS queue URL (`sqs.<region>.amazonaws.com`), else the configured one."""
    host = urlparse(url).hostname or ""
    parts = host.split(".")
    if len(parts) >= 4 and parts[0] == "sqs" and parts[-2:] == ["amazonaws", "com"]:
        return parts[1]
    return region


class LandingQueue:
    """One dataset's SQS queue of bucket notifications, on the endpoint its URL names."""

    def __init__(self, url: str, *, region: str | None = None, max_attempts: int = 3) -> None:
        """Build the client; nothing is sent yet.

        Args:
            url: The queue URL; its scheme and host are the SQS endpoint (AWS's, or moto's in tests).
            region: The region when the URL does not say it (`FOUNDATION_S3_REGION`).
            max_attempts: Requests per call, the first included, before the queue counts as unreachable.

        Raises:
            SettingsError: `url` is not an http(s) URL.
        """
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise SettingsError(f"FOUNDATION_LANDING_QUEUE_URL: {url} is not a queue URL (https://…)")
        self.url = url
        config = botocore.config.Config(
            retries={"total_max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=5,
            read_timeout=20,
        )
        # Credentials come from the standard chain only, as for S3.
        self.client: Any = boto3.session.Session().client(
            "sqs",
            endpoint_url=f"{parsed.scheme}://{parsed.netloc}",
            region_name=_region(url, region),
            config=config,
        )

    def _call(self, verb: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return getattr(self.client, verb)(QueueUrl=self.url, **kwargs)
        except (*_NETWORK_ERRORS, botocore.exceptions.ClientError) as exc:
            raise LandingQueueUnavailable(
                f"landing queue {self.url} did not answer {verb} ({type(exc).__name__}: {exc}); check that "
                "it exists and FOUNDATION_LANDING_QUEUE_URL. Nothing was requested; the next tick retries."
            ) from exc

    def receive(self, limit: int = MAX_MESSAGES) -> list[Message]:
        """Up to `limit` messages, 10 a request without waiting, until the queue answers none.

        Raises:
            LandingQueueUnavailable: The queue did not answer.
        """
        messages: list[Message] = []
        while len(messages) < limit:
            answer = self._call(
                "receive_message",
                MaxNumberOfMessages=min(BATCH, limit - len(messages)),
                WaitTimeSeconds=0,
                VisibilityTimeout=VISIBILITY_SECONDS,
            )
            got = answer.get("Messages") or []
            messages += [Message(m["ReceiptHandle"], parse_body(m.get("Body", ""))) for m in got]
            if not got:
                return messages
        return messages

    def settle(self, done: Iterable[Message], again: Iterable[Message]) -> None:
        """Delete the finished messages; make the others visible again at once (due on a later tick).

        A failure is logged, not raised: a message not deleted comes back and requests nothing new.
        """
        for verb, messages, extra in (
            ("delete_message_batch", list(done), {}),
            ("change_message_visibility_batch", list(again), {"VisibilityTimeout": 0}),
        ):
            for start in range(0, len(messages), BATCH):
                entries = [
                    {"Id": str(i), "ReceiptHandle": m.receipt, **extra}
                    for i, m in enumerate(messages[start : start + BATCH])
                ]
                try:
                    failed = self._call(verb, Entries=entries).get("Failed") or []
                except LandingQueueUnavailable as exc:
                    log.warning("%s; those messages come back later", exc)
                    break
                if failed:
                    log.warning("landing queue %s: %s failed for %d message(s)", self.url, verb, len(failed))


def open_queue(settings: Settings, dataset: str) -> LandingQueue | None:
    """The dataset's landing queue in notification mode, else None (listing mode)."""
    url = queue_url(settings, dataset)
    return LandingQueue(url, region=settings.s3_region) if url else None
