"""Frame repairs: masked reverse diffusion fills only the mask; a trained inpainter fills a
satellite's trail with sky; a repair that cannot mean anything is refused before any work;
a repair made on a real worker is a new version beside the untouched original, with its
mask, provenance and photometry, on its page and in the API, and no other observatory's."""

import io

import numpy as np
import pytest
from astropy.io import fits

from mlmodels import registry, services
from mlmodels.diffusion import galaxy_unet
from mlmodels.inpainting import repair_image
from mlmodels.models import FrameRepair, ModelVersion, Prediction
from mlmodels.repairs import RepairRefused, repair_first_flagged, request_repair
from mlmodels.training import weights_of
from observations.defect_masks import sky_and_noise
from observations.ingest import ingest_frame
from observations.star_fitting import FittedStars
from observations.synthetic import make_frame
from portal.models import Job
from portal.tenancy import tenant_context
from tests.conftest import api_client
from tests.observations.conftest import M51, equip, to_bytes
from tests.waiting import finished

FRAME = {"ra_deg": M51[0] + 0.004, "dec_deg": M51[1], "width": 256, "height": 256, "seed": 5,
         "extra_sources": [(*M51, 5000)]}  # fmt: skip


def _inpainter(tenant, user, model=None):
    """An inpainting version in production (of ``model``, or a new one) with the U-Net's initial weights."""
    model = model or services.create_task_model(tenant, user, name="frame-inpainting", task="inpainting")
    version = registry.save_version(model, user, weights=weights_of(galaxy_unet(1, 1)),
                                    metrics={"val_loss": 1.0, "split": {"validation": 10}})  # fmt: skip
    version.stage = ModelVersion.Stage.PRODUCTION
    version.save(update_fields=["stage"])
    return version


def _judged(frame, user, flags):
    """The frame judged by a frame-quality version that raised ``flags`` (name -> probability)."""
    model = services.create_task_model(frame.tenant, user, name="frame-quality", task="frame_quality")
    version = registry.save_version(model, user, weights={"w": np.zeros(1, np.float32)})
    Prediction.objects.create(tenant=frame.tenant, version=version, frame=frame, label="medium", confidence=0.9,
                              probabilities={"medium": 0.9}, flags=flags)  # fmt: skip


def test_repainting_changes_only_the_masked_pixels_and_says_how_sure_it_is():
    image = make_frame(ra_deg=1, dec_deg=2, width=80, height=72, seed=1).data
    mask = np.zeros(image.shape, dtype=bool)
    mask[3:6, :] = True  # along the bottom edge: patches there are moved inside the frame
    mask[40:44, 70:80] = True
    network = galaxy_unet(1, 1).eval()
    repaired, spread = repair_image(network, image, mask, size=32, steps=3, resample=2, samples=3, seed=7)
    assert np.array_equal(repaired[~mask], image[~mask]), "every unmasked pixel exactly as it was"
    assert np.isfinite(repaired[mask]).all() and not np.array_equal(repaired[mask], image[mask])
    assert (spread[mask] > 0).all() and not spread[~mask].any()
    again, _ = repair_image(network, image, mask, size=32, steps=3, resample=2, samples=3, seed=7)
    assert np.array_equal(again, repaired), "a repair is made again exactly from its seed"
    sky, noise = sky_and_noise(image)
    measured = np.where(mask, image + 0.1 * noise, np.nan)  # what a trail's pixels say, less its light
    kept, _ = repair_image(network, image, mask, beneath=(measured, np.full(image.shape, noise)), size=32, steps=3,
                           resample=2, samples=3, seed=7)  # fmt: skip
    bright = mask & (image > sky + 30 * noise)
    assert bright.any() and np.abs(kept[bright] / measured[bright] - 1).max() < 0.05, (
        "a pixel measured far above its noise keeps its light, whatever the network (here untrained) guesses"
    )
    assert np.array_equal(kept[~mask], image[~mask])
    light = np.where(bright, image - sky, 0).astype(np.float32)
    decided = np.where(bright, image + 0.01 * noise, np.nan).astype(np.float32)  # a fitted star's estimate
    stars = FittedStars(light, decided, np.where(bright, 0.5 * noise, 0).astype(np.float32), 1, 2.0)
    fitted, spread = repair_image(network, image, mask, stars=stars, size=32, steps=3, resample=2, samples=3, seed=7)
    assert np.array_equal(fitted[bright], decided[bright]) and np.allclose(spread[bright], 0.5 * noise), (
        "the pixels a fitted star decides are its estimate, with its error as their spread"
    )
    assert np.array_equal(fitted[~mask], image[~mask]) and np.isfinite(fitted[mask & ~bright]).all()
    with pytest.raises(ValueError, match="a 24×24 px frame is smaller than the network's 32 px patches"):
        repair_image(network, image[:24, :24], mask[:24, :24], size=32)


def test_repairs_that_cannot_mean_anything_are_refused_naming_why_and_leave_nothing(tenant_factory, client):
    tenant, users = tenant_factory(sites=[], members=(("admin", "admin"), ("astronomer", "astronomer")))
    equip(tenant)
    admin = users["admin"]
    with tenant_context(tenant):
        frame = ingest_frame(tenant, admin, to_bytes([make_frame(**FRAME)]), "f.fits").frame
        tiny = ingest_frame(tenant, admin, to_bytes([make_frame(**{**FRAME, "width": 24, "height": 24, "seed": 6})]),
                            "tiny.fits").frame  # fmt: skip
        drawn = {"mask_source": "drawn", "shapes": {"lines": [[0, 10, 255, 200, 6]]}}
        with pytest.raises(RepairRefused, match="no inpainting model serves this observatory"):
            request_repair(tenant, frame, admin, **drawn)
        version = _inpainter(tenant, admin)
        classifier = registry.save_version(services.create_task_model(tenant, admin, name="m", task="morphology"),
                                           admin, weights={"w": np.zeros(1, np.float32)})  # fmt: skip
        refusals = [
            (frame, {"mask_source": "flags"}, None, "no frame-quality model has judged this frame"),
            (frame, {"mask_source": "drawn", "shapes": {}}, None, "the mask covers none of the frame"),
            (frame, {"mask_source": "drawn", "shapes": {"boxes": [[0, 0, 255, 255]]}}, None, "covers the whole frame"),
            (frame, {"mask_source": "drawn", "shapes": {"boxes": [[0, 0, 255, 127]]}}, None,
             "covers 50% of the frame; a repair fills narrow defects"),
            (frame, {"mask_source": "drawn", "shapes": {"lines": [[0, 0, 9]]}}, None, "line 1 must be 5 numbers"),
            (frame, drawn, classifier, "m is a galaxy morphology model, not an inpainting one"),
            (tiny, drawn, None, "the frame is 24×24 px, smaller than the model's 32 px patches"),
        ]  # fmt: skip
        for subject, asked, other_version, reason in refusals:
            with pytest.raises(RepairRefused, match=reason):
                request_repair(tenant, subject, admin, version=other_version, **asked)
        _judged(frame, admin, {"clouds": 0.8, "satellite": 0.1, "cosmic_rays": 0.2})
        with pytest.raises(RepairRefused, match="flags no satellite trail or cosmic rays on this frame"):
            request_repair(tenant, frame, admin, mask_source="flags")
    client.force_login(users["astronomer"])
    asked = {"mask_source": "drawn", "shapes": "{}", "steps": 5, "resample": 1, "samples": 1}
    page = client.post(f"/t/{tenant.slug}/frames/{frame.pk}/repairs/new/", asked)
    assert page.status_code == 200 and "the mask covers none of the frame" in page.text
    assert 'id="mask-canvas"' in page.text and "flagged" in page.text
    answer = api_client(tenant, users["astronomer"]).post(
        "/api/v1/frame-repairs/", {"frame": frame.pk, "mask_source": "flags"}, format="json"
    )
    assert answer.status_code == 400 and "flags no satellite trail" in str(answer.json())
    forged = api_client(tenant, users["astronomer"]).post("/api/v1/frame-repairs/", {"frame": 10**9}, format="json")
    assert forged.status_code == 400 and "no frame of this observatory has this id" in str(forged.json())
    with tenant_context(tenant):
        assert version.model.task == "inpainting"
        assert not FrameRepair.objects.exists() and not Job.objects.filter(kind="repair").exists()


def test_a_trained_inpainter_repairs_a_flagged_trail_on_a_worker_beside_the_untouched_original(
    client, workers, committed_tenant_factory
):
    tenant, users = committed_tenant_factory(sites=[], members=(("admin", "admin"), ("astronomer", "astronomer")))
    other, other_users = committed_tenant_factory()
    equip(tenant)
    admin = users["admin"]
    crossed = {**FRAME, "seed": 6}  # a trail across stars
    spoilt = make_frame(**crossed, defects=("satellite",))
    truth = make_frame(**crossed, noise=False).data
    with tenant_context(tenant):
        model = services.create_task_model(tenant, admin, name="frame-inpainting", task="inpainting")
        version = services.train_version(model, admin, examples=640, epochs=2)
        services.promote_version(version, admin)
        frame = ingest_frame(tenant, admin, to_bytes([spoilt]), "trail.fits").frame
        _judged(frame, admin, {"satellite": 0.97, "cosmic_rays": 0.1})
        original = frame.file.open("rb").read()
    client.force_login(users["astronomer"])
    assert "Repair this frame" in client.get(f"/t/{tenant.slug}/frames/{frame.pk}/").text
    form = client.get(f"/t/{tenant.slug}/frames/{frame.pk}/repairs/new/")
    assert "satellite" in form.text and "frame-inpainting v1" in form.text
    asked = {"mask_source": "flags", "steps": 10, "resample": 2, "samples": 2, "seed": 3}
    response = client.post(f"/t/{tenant.slug}/frames/{frame.pk}/repairs/new/", asked)
    assert response.status_code == 302 and response["Location"].endswith(f"/frames/{frame.pk}/repairs/1/")
    waiting = client.get(response["Location"])
    assert 'data-reload-when-done="true"' in waiting.text
    repair = waiting.context["repair"]
    assert finished(tenant, repair.job, timeout=240).status == "succeeded", repair.job.message

    page = client.get(response["Location"])
    assert 'id="repair-mask"' in page.text and 'id="repair-result"' in page.text and "M51" in page.text
    with tenant_context(tenant):
        repair.refresh_from_db()
        frame.refresh_from_db()
        assert frame.file.open("rb").read() == original, "the original frame is never changed"
    assert repair.found["satellite"] > 500 and repair.masked_pixels == sum(repair.found.values())
    download = client.get(f"/t/{tenant.slug}/frames/{frame.pk}/repairs/1/fits/")
    with fits.open(io.BytesIO(b"".join(download.streaming_content))) as hdus:
        header, repaired, mask = hdus[0].header, hdus[0].data, hdus["MASK"].data.astype(bool)
        spread = hdus["SPREAD"].data
    assert header["REPAIRED"] is True and (header["INPMODEL"], header["INPVERS"], header["MASKSRC"]) == (
        "frame-inpainting", 1, "flags") and header["CTYPE1"] == "RA---TAN"  # fmt: skip
    assert mask.sum() == repair.masked_pixels and np.array_equal(repaired[~mask], spoilt.data[~mask])
    assert np.mean(spread[mask] > 0) > 0.99, "a filled pixel says how sure it is (two fills may agree to a float)"
    sky, noise = sky_and_noise(spoilt.data)
    background = mask & (truth - sky < noise)  # the trail's pixels that were sky before it came
    before = np.median(np.abs(spoilt.data[background] - truth[background])) / noise
    after = np.median(np.abs(repaired[background] - truth[background])) / noise
    assert before > 5 and after < 1.5, f"the trail ({before:.0f}σ) is filled with sky ({after:.2f}σ off)"
    starlit = mask & (truth - sky > 20 * noise)  # stars the trail crossed: kept, not guessed
    assert starlit.sum() > 50
    error = np.median(np.abs(repaired[starlit] - truth[starlit]) / (truth - sky)[starlit])
    assert error < 0.1, f"the light of stars under the trail is {error:.0%} off"
    lit = mask & (truth - sky > 3 * noise)  # their faint wings too: given by the stars' fitted profile
    within = np.mean(np.abs(repaired[lit] - truth[lit]) <= 0.1 * (truth - sky)[lit])
    assert within > 0.9, f"{within:.0%} of the masked star pixels within 10% of the truth"
    assert repair.stars_fitted > 3 and header["STARFIT"] == repair.stars_fitted and header["PSFFWHM"] > 2
    assert 'id="stars-fitted"' in page.text
    assert repair.kept_under_trail > 0.9 * repair.found["satellite"] and header["TRAILKPT"] == repair.kept_under_trail
    assert 'id="kept-under-trail"' in page.text
    row = repair.photometry[0]
    assert row["name"] == "M51" and row["masked_in_aperture"] >= 0
    if row["masked_in_aperture"] == 0:
        assert row["repaired"]["flux_adu"] == pytest.approx(row["original"]["flux_adu"], rel=1e-3), (
            "a target the mask misses measures the same (its sky annulus may cross the trail)"
        )

    listed = api_client(tenant, users["astronomer"]).get(f"/api/v1/frame-repairs/?frame={frame.pk}").json()
    assert [item["number"] for item in listed["results"]] == [1] and listed["results"][0]["status"] == "succeeded"
    assert listed["results"][0]["fits_url"].endswith(f"/api/v1/frame-repairs/{repair.pk}/file/")
    client.force_login(other_users["admin"])
    assert client.get(f"/t/{other.slug}/frames/{frame.pk}/repairs/1/").status_code == 404
    assert api_client(other, other_users["admin"]).get(f"/api/v1/frame-repairs/{repair.pk}/").status_code == 404


def test_a_new_inpainter_repairs_the_surest_flagged_trail_once_it_serves_and_only_once(tenant_factory):
    tenant, users = tenant_factory(sites=[])
    equip(tenant)
    admin = users["admin"]
    with tenant_context(tenant):
        model = services.create_task_model(tenant, admin, name="frame-inpainting", task="inpainting")
        assert repair_first_flagged(tenant, model, admin) is None, "no version serves yet"
        frames = [ingest_frame(tenant, admin, to_bytes([make_frame(**{**FRAME, "seed": seed}, defects=(defect,))]),
                               f"{defect}{seed}.fits").frame
                  for seed, defect in ((1, "satellite"), (2, "satellite"), (3, "defocus"))]  # fmt: skip
        _inpainter(tenant, admin, model)
        assert repair_first_flagged(tenant, model, admin) is False, "nothing flagged yet: ask again later"
        _judged(frames[0], admin, {"satellite": 0.7})
        judge = Prediction.objects.get().version
        for frame, surety in ((frames[1], 0.95), (frames[2], 0.99)):
            Prediction.objects.create(tenant=tenant, version=judge, frame=frame,
                                      label="medium", confidence=0.9, flags={"satellite": surety})  # fmt: skip
        repair = repair_first_flagged(tenant, model, admin, steps=5, resample=1, samples=1)
        assert repair.frame == frames[1], "the surest flag whose trail the pixels show: not the defocused frame"
        assert repair.mask_source == "flags" and repair.number == 1
        assert repair_first_flagged(tenant, model, admin) is None, "a second delivery repairs nothing more"
        detected = request_repair(tenant, frames[0], admin, mask_source="detected", steps=5, resample=1, samples=1)
        assert detected.number == 1 and detected.mask_source == "detected", "found in the pixels, whatever was flagged"
