"""Uploads are bounded as their bytes arrive: a file past FRAME_MAX_BYTES stops the reading of
the request and is refused naming the limit, by the upload page and the frames API alike."""

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from django.http.multipartparser import MultiPartParser
from django.test import RequestFactory, override_settings
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from observations.models import Frame
from portal.models import Job
from portal.uploads import SizeLimitedUploadHandler
from tests.conftest import api_client
from tests.observations.conftest import plain

LIMIT = 100_000
REFUSAL = "big.fits is larger than the limit of 100,000 bytes"


class CountingStream(io.BytesIO):
    """A request body that remembers how much of it was read."""

    def __init__(self, data):
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


@override_settings(FRAME_MAX_BYTES=2**20)
def test_an_oversize_file_stops_the_request_being_read_at_the_limit():
    body = encode_multipart(BOUNDARY, {"files": SimpleUploadedFile("big.fits", bytes(20 * 2**20))})
    stream = CountingStream(body)
    request = RequestFactory().post("/", content_type=MULTIPART_CONTENT)
    meta = {"CONTENT_TYPE": MULTIPART_CONTENT, "CONTENT_LENGTH": str(len(body))}
    _, files = MultiPartParser(meta, stream, [SizeLimitedUploadHandler(request)]).parse()
    assert not files
    assert stream.bytes_read < 3 * 2**20, "the 20 MiB body was read no further than about the 1 MiB limit"
    assert request.refused_uploads == ["big.fits is larger than the limit of 1,048,576 bytes (1 MiB) for one file"]


@override_settings(FRAME_MAX_BYTES=LIMIT)
def test_the_frames_api_answers_413_naming_the_limit_and_stores_nothing(observatory):
    tenant, user = observatory
    response = api_client(tenant, user).post(
        "/api/v1/frames/upload/", {"files": [SimpleUploadedFile("big.fits", plain())]}, format="multipart"
    )
    assert response.status_code == 413
    assert REFUSAL in str(response.json())
    assert not Frame.objects.exists()


@override_settings(FRAME_MAX_BYTES=LIMIT)
def test_the_upload_page_says_which_file_is_over_the_limit_and_starts_no_ingest(observatory, client):
    tenant, user = observatory
    client.force_login(user)
    response = client.post(f"/t/{tenant.slug}/frames/upload/", {"files": [SimpleUploadedFile("big.fits", plain())]})
    assert response.status_code == 200
    assert REFUSAL in response.text
    assert not Job.objects.exists() and not Frame.objects.exists()


@override_settings(DATA_UPLOAD_MAX_NUMBER_FILES=3)
def test_more_files_than_one_request_may_carry_are_refused_saying_so(observatory, client):
    tenant, user = observatory
    files = {"files": [SimpleUploadedFile(f"frame-{n}.fits", b"SIMPLE") for n in range(4)]}
    client.force_login(user)
    page = client.post(f"/t/{tenant.slug}/frames/upload/", files)
    assert page.status_code == 413 and "the request has more than 3 files" in page.text
    assert 'class="topbar"' in page.text, "the portal's own page, with its top bar"
    files = {"files": [SimpleUploadedFile(f"frame-{n}.fits", b"SIMPLE") for n in range(4)]}
    answer = api_client(tenant, user).post("/api/v1/frames/upload/", files, format="multipart")
    assert answer.status_code == 413 and answer.json()["detail"] == "the request has more than 3 files"
    assert not Job.objects.exists() and not Frame.objects.exists()
