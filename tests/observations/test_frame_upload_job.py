"""The upload page hands the files to a real worker and its job page reports each one."""

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from observations.models import Frame
from portal.models import Job
from portal.tenancy import tenant_context
from tests.observations.conftest import equip, plain
from tests.waiting import finished


def test_uploaded_files_are_ingested_by_a_worker_with_per_file_results(workers, committed_tenant_factory, client):
    tenant, users = committed_tenant_factory(sites=[])
    equip(tenant)
    client.force_login(users["admin"])
    response = client.post(
        f"/t/{tenant.slug}/frames/upload/",
        {"files": [SimpleUploadedFile("a.fits", plain()), SimpleUploadedFile("b.fits", plain()),
                   SimpleUploadedFile("c.fits", b"garbage")]},
    )  # fmt: skip
    assert response.status_code == 302 and "/jobs/" in response.url
    job_id = int(response.url.rstrip("/").rsplit("/", 1)[1])
    with tenant_context(tenant):
        job = finished(tenant, Job.objects.get(pk=job_id), timeout=60)
        assert job.status == "succeeded" and job.done == 3
        assert [(f["file"], f["status"]) for f in job.result["files"]] == [
            ("a.fits", "created"), ("b.fits", "duplicate"), ("c.fits", "rejected")]  # fmt: skip
        assert "not a FITS file" in job.result["files"][2]["reason"]
        assert Frame.objects.filter(tenant=tenant).count() == 1
    page = client.get(response.url)
    assert "not a FITS file" in page.text and "3 files: 1 created, 1 duplicate, 1 rejected" in page.text
    assert default_storage.listdir(f"staging/{tenant.pk}/{job_id}")[1] == [], "staged files are removed"
