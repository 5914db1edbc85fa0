"""Notification mode: the landing sensor drains its dataset's SQS queue of bucket events instead of listing.

On moto_server over HTTP, S3 and SQS both: the bucket sends its ObjectCreated events to the queue
itself (a notification configuration), nothing is patched but a counter around the landing's `list`.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid

import boto3
import dagster as dg
import pytest

from dagster_project.defs.raw.sensors import build_landing_sensor
from dagster_project.defs.resources import Foundation
from dagster_project.ingest.run import ingest_dataset
from dagster_project.landing.events import parse_body
from dagster_project.landing.s3 import S3Landing
from dagster_project.registry import load_registry
from dagster_project.settings import Settings, SettingsError, load_settings
from tests.conftest import orders_csv
from tests.servers.s3 import REGION, S3Server


class Bucket:
    """A bucket whose `landing/orders/` events go to the queue `<bucket>-orders`; settings that drain it."""

    def __init__(self, server: S3Server, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.name = f"notified-{uuid.uuid4().hex[:8]}"
        self.s3 = server.client()
        self.sqs = boto3.session.Session().client("sqs", endpoint_url=server.endpoint_url, region_name=REGION)
        self.s3.create_bucket(Bucket=self.name)
        self.queue = self.sqs.create_queue(QueueName=f"{self.name}-orders")["QueueUrl"]
        self.settings = Settings.for_data_dir(
            tmp_path / "data",
            landing_uri=f"s3://{self.name}/landing",
            quarantine_uri=f"s3://{self.name}/quarantine",
            s3_endpoint_url=server.endpoint_url,
            s3_region=REGION,
            landing_queue_url=self.queue.replace("-orders", "-{dataset}"),
            sensor_min_file_age_seconds=0,
        )
        self.dataset = load_registry(self.settings.sources_file)["orders"]
        self.sensor = build_landing_sensor(self.dataset, 15)
        self.listings = 0
        listing = S3Landing.list

        def counted(landing, prefix, skipped=None):  # noqa: ANN001, ANN202
            self.listings += 1
            return listing(landing, prefix, skipped)

        monkeypatch.setattr(S3Landing, "list", counted)

    def notify(self) -> None:
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])
        self.s3.put_bucket_notification_configuration(
            Bucket=self.name,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": arn["Attributes"]["QueueArn"],
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "landing/orders/"}]}},
                    }
                ]
            },
        )

    def land(self, key: str, first_id: int = 1) -> None:
        self.s3.put_object(Bucket=self.name, Key=f"landing/{key}", Body=orders_csv(first_id, 2).encode())

    def tick(self, cursor: str | None) -> tuple[dg.SensorResult, str | None]:
        context = dg.build_sensor_context(
            cursor=cursor,
            instance=dg.DagsterInstance.ephemeral(),
            resources={"foundation": Foundation.from_settings(self.settings)},
        )
        result = self.sensor(context)
        return result, (result.cursor if result.cursor is not None else cursor)

    def messages_left(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


def _files(result: dg.SensorResult) -> list[str]:
    [request] = result.run_requests
    return sorted(request.run_config["ops"]["raw__orders"]["config"]["files"])


def _listed_now(cursor: str | None) -> str:
    """A cursor whose last reconciling listing is now: the next tick reads events only."""
    state = json.loads(cursor) if cursor else {}
    return json.dumps({**state, "listed_ns": time.time_ns()})


@pytest.fixture
def bucket(s3_server, s3_credentials, tmp_path, monkeypatch) -> Bucket:
    return Bucket(s3_server, tmp_path, monkeypatch)


@pytest.mark.slow  # a moto_server, as the other S3 tests
def test_events_request_exactly_the_landed_files_without_listing(bucket: Bucket, capfd) -> None:
    bucket.notify()
    first, cursor = bucket.tick(None)  # the first tick lists once (events may predate the sensor)
    assert first.run_requests == [] and bucket.listings == 1
    for name in ("a", "b", "c"):
        bucket.land(f"orders/{name}.csv")
    bucket.land("customers/x.csv")  # another prefix: no event for this queue
    capfd.readouterr()
    result, cursor = bucket.tick(cursor)
    assert _files(result) == ["orders/a.csv", "orders/b.csv", "orders/c.csv"]
    assert bucket.listings == 1  # no ListObjects: the events said where to look
    assert "orders: 3 new file version(s), 3 seen, 3 event message(s)" in capfd.readouterr().err  # where from
    # Kept until a tick whose cursor Dagster stored knows the files: the next one deletes them.
    assert bucket.messages_left() == 3
    again, _ = bucket.tick(cursor)
    assert again.run_requests == [] and bucket.listings == 1
    assert bucket.messages_left() == 0


@pytest.mark.slow
def test_a_tick_whose_result_was_never_stored_loses_no_event(bucket: Bucket) -> None:
    bucket.notify()
    _, cursor = bucket.tick(_listed_now(None))
    bucket.land("orders/a.csv")
    lost, _ = bucket.tick(cursor)  # the daemon stopped before storing this result: its cursor is lost
    assert _files(lost) == ["orders/a.csv"]
    again, cursor = bucket.tick(cursor)  # the stored cursor, as the daemon has it
    assert _files(again) == ["orders/a.csv"] and bucket.listings == 0
    done, _ = bucket.tick(cursor)
    assert done.run_requests == [] and bucket.messages_left() == 0


@pytest.mark.slow
def test_a_missed_event_is_found_by_the_reconciling_listing(bucket: Bucket) -> None:
    bucket.land("orders/before.csv")  # before the bucket sent any event
    bucket.notify()
    _, cursor = bucket.tick(_listed_now(None))
    bucket.land("orders/lost.csv")
    bucket.sqs.purge_queue(QueueUrl=bucket.queue)  # its event lost
    nothing, cursor = bucket.tick(cursor)
    assert nothing.run_requests == [] and bucket.listings == 0
    state = json.loads(cursor)
    state["listed_ns"] -= bucket.settings.landing_reconcile_seconds * 1_000_000_000  # the hour is up
    found, cursor = bucket.tick(json.dumps(state))
    assert _files(found) == ["orders/before.csv", "orders/lost.csv"] and bucket.listings == 1
    assert json.loads(cursor)["listed_ns"] > state["listed_ns"]  # nothing more due: the next hour
    later, _ = bucket.tick(cursor)
    assert later.run_requests == [] and bucket.listings == 1


@pytest.mark.slow
def test_an_event_twice_or_for_a_handled_version_requests_nothing_new(bucket: Bucket) -> None:
    bucket.notify()
    bucket.land("orders/a.csv")
    [message] = bucket.sqs.receive_message(QueueUrl=bucket.queue, VisibilityTimeout=0)["Messages"]
    bucket.sqs.send_message(QueueUrl=bucket.queue, MessageBody=message["Body"])  # delivered twice
    result, cursor = bucket.tick(_listed_now(None))
    assert _files(result) == ["orders/a.csv"]
    bucket.sqs.send_message(QueueUrl=bucket.queue, MessageBody=message["Body"])  # and a third time
    again, cursor = bucket.tick(cursor)
    assert again.run_requests == [] and bucket.messages_left() == 0

    ingest_dataset(bucket.settings, bucket.dataset, run_id="handled")  # the version is now handled
    bucket.listings = 0
    bucket.sqs.send_message(QueueUrl=bucket.queue, MessageBody=message["Body"])
    fresh, _ = bucket.tick(_listed_now(None))  # a fresh cursor: only the handled index says no
    assert fresh.run_requests == [] and bucket.messages_left() == 0 and bucket.listings == 0


@pytest.mark.slow
def test_keys_with_spaces_plus_signs_and_unicode_survive_the_url_encoding(bucket: Bucket) -> None:
    bucket.notify()
    keys = ["orders/a b.csv", "orders/c+d.csv", "orders/zoë 100%.csv"]
    for n, key in enumerate(keys):
        bucket.land(key, first_id=10 * n)
    result, _ = bucket.tick(_listed_now(None))
    assert _files(result) == sorted(keys) and bucket.listings == 0


@pytest.mark.slow
def test_a_queue_that_does_not_answer_skips_the_tick_and_keeps_the_cursor(bucket: Bucket) -> None:
    bucket.sqs.delete_queue(QueueUrl=bucket.queue)
    cursor = _listed_now(None)
    result, after = bucket.tick(cursor)
    assert result.run_requests == [] and after == cursor
    assert "landing queue" in result.skip_reason.skip_message
    assert "FOUNDATION_LANDING_QUEUE_URL" in result.skip_reason.skip_message


def test_test_events_removals_and_sns_envelopes_are_read_as_s3_would_send_them() -> None:
    assert parse_body(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})) == []
    record = {
        "eventName": "ObjectRemoved:Delete",
        "eventTime": "2026-12-01T00:00:00.000Z",
        "s3": {"bucket": {"name": "b"}, "object": {"key": "orders/a.csv"}},
    }
    assert parse_body(json.dumps({"Records": [record]})) == []
    created = {**record, "eventName": "ObjectCreated:CompleteMultipartUpload"}
    created["s3"] = {
        "bucket": {"name": "b"},
        "object": {"key": "orders/a+b%2B%C3%A9.csv", "size": 3, "eTag": "e-2"},
    }
    wrapped = json.dumps({"Type": "Notification", "Message": json.dumps({"Records": [created]})})
    [event] = parse_body(wrapped)
    assert (event.key, event.size, event.etag, event.time.year) == ("orders/a b+é.csv", 3, "e-2", 2026)


def test_a_queue_needs_an_s3_landing_zone_and_one_queue_per_dataset() -> None:
    queue = "https://sqs.eu-west-1.amazonaws.com/1/landing-{dataset}"
    with pytest.raises(SettingsError, match="FOUNDATION_LANDING_QUEUE_URL.*FOUNDATION_LANDING_URI"):
        load_settings({"FOUNDATION_LANDING_QUEUE_URL": queue})
    with pytest.raises(SettingsError, match="{dataset}"):
        load_settings({"FOUNDATION_LANDING_QUEUE_URL": "https://sqs/1/q", "FOUNDATION_LANDING_URI": "s3://b"})
    settings = load_settings({"FOUNDATION_LANDING_QUEUE_URL": queue, "FOUNDATION_LANDING_URI": "s3://b"})
    assert settings.landing_reconcile_seconds == 3600


@pytest.mark.slow
def test_an_event_for_a_file_not_due_yet_stays_on_the_queue_for_a_later_tick(bucket: Bucket) -> None:
    bucket.notify()
    bucket.land("orders/young.csv")
    bucket.settings = dataclasses.replace(bucket.settings, sensor_min_file_age_seconds=3600)
    waiting, cursor = bucket.tick(_listed_now(None))
    assert waiting.run_requests == [] and bucket.messages_left() == 1  # visible again, not deleted
    bucket.settings = dataclasses.replace(bucket.settings, sensor_min_file_age_seconds=0)
    due, cursor = bucket.tick(cursor)
    assert _files(due) == ["orders/young.csv"] and bucket.listings == 0
    settled, _ = bucket.tick(cursor)
    assert settled.run_requests == [] and bucket.messages_left() == 0


@pytest.mark.slow
def test_a_requested_file_older_than_the_lookback_is_not_requested_again_while_its_run_is_due(
    bucket: Bucket,
) -> None:
    # Notification mode takes files of any age; one handed out must stay in the cursor while it is
    # still unhandled, or its message comes back and a second run is requested for it.
    bucket.settings = dataclasses.replace(bucket.settings, sensor_lookback_seconds=1)
    bucket.notify()
    bucket.land("orders/a.csv")
    time.sleep(1.5)  # a is now older than the lookback below b
    bucket.land("orders/b.csv", first_id=10)
    first, cursor = bucket.tick(_listed_now(None))
    assert _files(first) == ["orders/a.csv", "orders/b.csv"]
    bucket.land("orders/c.csv", first_id=20)  # a's run has not committed yet
    second, cursor = bucket.tick(cursor)
    assert _files(second) == ["orders/c.csv"]
    assert bucket.messages_left() == 1  # a and b requested by a stored tick: done; c's settles next
    state = json.loads(cursor)
    state["listed_ns"] -= bucket.settings.landing_reconcile_seconds * 1_000_000_000
    listed, _ = bucket.tick(json.dumps(state))  # the reconciling listing: a, b and c are all requested
    assert listed.run_requests == []
