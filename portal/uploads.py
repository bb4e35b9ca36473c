"""Uploaded files bounded as their bytes arrive.

Django hands each chunk of an uploaded file to its upload handlers in turn; this one comes
first and stops reading the request once a file passes ``FRAME_MAX_BYTES`` (the largest file
the portal takes), so an oversize upload is refused having read no more than the limit and
kept nothing: the other handlers (memory up to ``FILE_UPLOAD_MAX_MEMORY_SIZE``, then a
temporary file on disk) drop what they had. The refusal is kept on the request for the page
or the API to say which file was refused and why.
"""

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from rest_framework import status
from rest_framework.exceptions import APIException


class SizeLimitedUploadHandler(FileUploadHandler):
    def receive_data_chunk(self, raw_data, start):
        limit = settings.FRAME_MAX_BYTES
        if start + len(raw_data) > limit:
            size = f"{limit:,} bytes ({limit / 2**20:g} MiB)"
            refusal = f"{self.file_name} is larger than the limit of {size} for one file"
            self.request.refused_uploads = [*refused_uploads(self.request), refusal]
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler makes the file


def refused_uploads(request):
    """Why files of this request were refused as they arrived (empty when none was)."""
    return getattr(request, "refused_uploads", [])


class UploadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "upload_too_large"


def check_uploads(request):
    """Raise a 413 naming the refused files and the limit, on API routes, when any was refused."""
    refusals = refused_uploads(request)
    if refusals:
        raise UploadTooLarge("; ".join(refusals))
