"""Downloads through the API of what a job makes (a fused image, a generated set, a repaired frame)."""

from django.http import FileResponse
from rest_framework import exceptions


class JobFileMixin:
    """A viewset's ``file`` action for objects a job fills: the stored FITS whatever the client
    accepts (``Accept: application/fits`` too), and until the job has made it a 404 naming the
    job's state, so a client polling it knows whether to wait."""

    job_file_field = "file"
    job_file_noun = "file"

    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=force or self.action == "file")

    def job_file(self, made, filename):
        stored = getattr(made, self.job_file_field)
        if not stored:
            state = made.job.status if made.job else "gone"
            raise exceptions.NotFound(f"This {self.job_file_noun} is not made yet: its job is {state}.")
        return FileResponse(stored.open("rb"), as_attachment=True, filename=filename, content_type="application/fits")
