"""Frames kept in an S3-compatible bucket: the same ingest, downloads and clean-up as on disk.

The bucket is served by moto's S3 server over HTTP on localhost, so boto3 and
django-storages speak the real S3 protocol to it, as they would to MinIO or AWS.
"""

import os
import subprocess
import sys
import uuid

import boto3
import pytest
from django.conf import settings
from django.test import override_settings
from moto.server import ThreadedMotoServer

from observations.ingest import ingest_frame
from tests.conftest import _free_port
from tests.observations.conftest import plain

CREDENTIALS = {"aws_access_key_id": "arrayscope", "aws_secret_access_key": "arrayscope-secret"}


@pytest.fixture(scope="module")
def s3_endpoint():
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint):
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **CREDENTIALS)
    name = f"frames-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    files = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": name, "endpoint_url": s3_endpoint, "region_name": "us-east-1", "file_overwrite": False,
        "access_key": CREDENTIALS["aws_access_key_id"], "secret_key": CREDENTIALS["aws_secret_access_key"],
    }}  # fmt: skip
    with override_settings(STORAGES={**settings.STORAGES, "default": files}):
        yield lambda: sorted(item["Key"] for item in s3.list_objects_v2(Bucket=name).get("Contents", []))


def test_frame_preview_and_cutout_are_stored_in_the_bucket_and_served_to_members(client, observatory, bucket):
    tenant, user = observatory
    data = plain()
    result = ingest_frame(tenant, user, data, "tfn-0042.fits")
    assert result.status == "created", result.reason
    keys = bucket()
    assert [key.split("/")[0] for key in keys] == ["cutouts", "frames", "previews"]
    client.force_login(user)
    download = client.get(f"/t/{tenant.slug}/frames/{result.frame.pk}/fits/")
    assert download.status_code == 200 and b"".join(download.streaming_content) == data
    preview = client.get(f"/t/{tenant.slug}/frames/{result.frame.pk}/preview/")
    assert b"".join(preview.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_rejected_file_leaves_nothing_in_the_bucket(observatory, bucket):
    tenant, user = observatory
    broken = plain().replace(b"TELESCOP= '1m0a", b"TELESCOP= 'zzzz")
    assert ingest_frame(tenant, user, broken, "bad.fits").status == "rejected"
    assert bucket() == []


def test_the_bucket_is_configured_from_the_environment():
    environment = {**os.environ, "S3_BUCKET": "survey-frames", "S3_ENDPOINT_URL": "http://minio:9000",
                   "S3_PREFIX": "arrayscope", "DJANGO_SETTINGS_MODULE": "portal.settings"}  # fmt: skip
    shown = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
         "print(settings.STORAGES['default'])"],
        env=environment, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "storages.backends.s3.S3Storage" in shown
    assert "'bucket_name': 'survey-frames'" in shown and "'endpoint_url': 'http://minio:9000'" in shown
