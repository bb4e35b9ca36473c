"""Frame quality: what the network sees of a frame, a model that learns good / medium / bad
and the defects from synthetic frames, and its judgement on the frame's page."""

import numpy as np
import pytest

from mlmodels import registry, services
from mlmodels.frame_quality import FLAGS, QUALITY_CLASSES, frame_planes, quality_of, training_frames
from mlmodels.models import Prediction
from mlmodels.runtime import build_network
from mlmodels.training import TrainingRefused, frame_training_set, train_classifier, weights_of
from observations.ingest import ingest_frame
from observations.synthetic import make_frame
from portal.tenancy import tenant_context
from tests.observations.conftest import M51, equip, to_bytes


def test_quality_follows_what_the_defects_spoil():
    assert quality_of(()) == "good"
    assert quality_of(("satellite",)) == quality_of(("cosmic_rays", "satellite")) == "medium"
    assert quality_of(("clouds",)) == quality_of(("defocus", "cosmic_rays")) == "bad"


def test_a_frame_is_binned_to_mean_and_peak_planes_and_cosmic_rays_stand_out_in_the_peaks():
    clean = make_frame(ra_deg=10, dec_deg=10, width=256, height=256, seed=1).data
    hit = make_frame(ra_deg=10, dec_deg=10, width=256, height=256, seed=1, defects=("cosmic_rays",)).data
    planes = frame_planes(hit, 64)
    assert planes.shape == (2, 64, 64) and planes.dtype == np.float32
    assert (planes[1] > 2).sum() >= (frame_planes(clean, 64)[1] > 2).sum() + 10, "16 hits: sharp peaks over blocks"
    with pytest.raises(ValueError, match="smaller than the model's 64 px"):
        frame_planes(hit[:40, :40], 64)
    half_empty = hit.copy()
    half_empty[:200] = np.nan
    with pytest.raises(ValueError, match="78% of the frame's pixels are NaN"):
        frame_planes(half_empty, 64)


def test_training_frames_are_labelled_by_their_defects():
    images, labels, flags = training_frames(24, seed=2, size=32)
    assert images.shape == (24, 2, 32, 32) and flags.shape == (24, len(FLAGS))
    for label, row in zip(labels, flags):
        defects = [flag for flag, raised in zip(FLAGS, row) if raised]
        assert QUALITY_CLASSES[label] == quality_of(defects)
    assert len(set(labels.tolist())) == 3, "all three qualities occur"


def test_a_small_frame_quality_model_learns_the_quality_and_the_flags():
    data = frame_training_set(240, seed=3, size=32)
    _, metrics = train_classifier(data, architecture="convnext_atto", epochs=6, seed=0)
    assert metrics["accuracy"] > 0.5, "well above chance (1/3) on held-out frames"
    assert set(metrics["flags"]) == set(FLAGS) and all(f["support"] > 0 for f in metrics["flags"].values())
    assert metrics["flags"]["clouds"]["recall"] > 0.5, "the plainest defect is found in a few epochs"


def test_the_frame_page_shows_the_judgement_and_a_model_without_synthetic_frames_is_refused(tenant_factory, client):
    tenant, users = tenant_factory(sites=[])
    equip(tenant)
    with tenant_context(tenant):
        model = services.create_task_model(tenant, users["admin"], name="frame-quality",
                                           task="frame_quality", architecture="convnext_atto")  # fmt: skip
        assert model.flag_names == list(FLAGS) and model.input_spec["bands"] == ["mean", "peak"]
        network = build_network("convnext_atto", num_classes=len(QUALITY_CLASSES) + len(FLAGS), in_chans=2)
        version = registry.promote(registry.save_version(model, users["admin"], weights=weights_of(network)))
        frame = ingest_frame(tenant, users["admin"], to_bytes([make_frame(ra_deg=M51[0], dec_deg=M51[1], width=512,
                                                                          height=512, defects=("satellite",))]),
                             "trail.fits").frame  # fmt: skip
        assert services.classify(version, [frame.pk]) == 1
        prediction = Prediction.objects.get(version=version, frame=frame)
        assert set(prediction.probabilities) == set(QUALITY_CLASSES) and set(prediction.flags) == set(FLAGS)
        assert all(0 <= p <= 1 for p in prediction.flags.values())
        odd = registry.create_model(tenant, users["admin"], name="three-flags", task="frame_quality",
                                    architecture="convnext_atto", class_names=QUALITY_CLASSES,
                                    flag_names=FLAGS[:3])  # fmt: skip
        with pytest.raises(TrainingRefused, match="three-flags flags clouds, defocus, satellite; the synthetic frames"):
            services.train_version(odd, users["admin"], examples=60, epochs=1)
    client.force_login(users["admin"])
    page = client.get(f"/t/{tenant.slug}/frames/{frame.pk}/")
    assert 'id="frame-quality"' in page.text and f"frame-quality v{version.number}" in page.text
    assert f'<tr class="best"><th>{prediction.label}</th>' in page.text
