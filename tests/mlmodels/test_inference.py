"""Inference on target images: prepared as the model wants them or refused with the reason,
answers stored once per (image, version), embeddings indexed for similarity search."""

import numpy as np
import pytest
from django.db import connection

from mlmodels import services
from mlmodels.inference import Refused, prepare
from mlmodels.models import Embedding, Prediction
from mlmodels.registry import ArtifactCorrupt
from mlmodels.synthetic_galaxies import KINDS, make_galaxy
from observations.images import add_target_images
from observations.models import Target
from portal.tenancy import tenant_context

from .conftest import SPEC, tamper_with_weights


def test_bands_are_matched_by_name_and_missing_ones_refused():
    galaxy = make_galaxy(3, "elliptical")
    reordered = prepare(galaxy.image[::-1].copy(), ["z", "r", "g"], SPEC)
    assert np.allclose(reordered, prepare(galaxy.image, ["g", "r", "z"], SPEC))
    with pytest.raises(Refused, match="the model needs bands g, r, z; this image has r"):
        prepare(galaxy.image[1:2], ["r"], SPEC)


def test_nan_pixels_are_filled_and_wrong_sizes_resized_or_refused():
    image = make_galaxy(4, "spiral", size=96).image
    image[:, 10:20, 10:20] = np.nan
    prepared = prepare(image, ["g", "r", "z"], SPEC)
    assert prepared.shape == (3, 64, 64) and np.isfinite(prepared).all()
    wide = np.concatenate([image, image], axis=2)  # 96 × 192: the centre square is used
    assert prepare(wide, ["g", "r", "z"], SPEC).shape == (3, 64, 64)
    with pytest.raises(Refused, match="12×12 px is too small: the model looks at 64 px"):
        prepare(image[:, :12, :12], ["g", "r", "z"], SPEC)
    image[:, :60] = np.nan
    with pytest.raises(Refused, match="62% of the pixels are NaN"):
        prepare(image, ["g", "r", "z"], SPEC)


def test_images_are_classified_and_embedded_once_per_version_and_refusals_say_why(tenant_factory, untrained_version):
    tenant, users = tenant_factory(sites=[])
    with tenant_context(tenant):
        version = untrained_version(tenant, users["admin"])
        targets = [Target.objects.create(tenant=tenant, name=f"G{n}", ra_deg=10 + n, dec_deg=5, kind="galaxy")
                   for n in range(3)]  # fmt: skip
        r_only = make_galaxy(9)
        r_only.image = r_only.image[1:2]
        data = [make_galaxy(n).fits_bytes() for n in range(2)]
        single = r_only.fits_bytes().replace(b"BANDS   = 'g,r,z", b"BANDS   = 'r    ")
        images = add_target_images(tenant, [(targets[0], data[0], "s"), (targets[1], data[1], "s"),
                                            (targets[2], single, "s")])  # fmt: skip
        ids = [image.pk for image in images]
        assert services.classify(version, ids) == 2
        assert services.classify(version, ids) == 2, "running it again changes nothing"
        predictions = {p.image_id: p for p in Prediction.objects.filter(version=version)}
        assert len(predictions) == 3 and Embedding.objects.filter(version=version).count() == 2
        for image in images[:2]:
            prediction = predictions[image.pk]
            assert set(prediction.probabilities) == set(KINDS) and prediction.label in KINDS
            assert sum(prediction.probabilities.values()) == pytest.approx(1, abs=1e-3)
            assert prediction.confidence == pytest.approx(max(prediction.probabilities.values()), abs=1e-5)
        assert predictions[images[2].pk].refusal == "the model needs bands g, r, z; this image has r"
        embedding = Embedding.objects.get(version=version, image=images[0])
        assert len(embedding.vector) == 320 and embedding.label == predictions[images[0].pk].label
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [f"embedding_hnsw_v{version.pk}"])
            assert "hnsw" in cursor.fetchone()[0]


def test_a_version_whose_weights_changed_is_refused(tenant_factory, untrained_version):
    tenant, users = tenant_factory(sites=[])
    with tenant_context(tenant):
        version = untrained_version(tenant, users["admin"], name="tampered")
        target = Target.objects.create(tenant=tenant, name="G", ra_deg=10, dec_deg=5, kind="galaxy")
        [image] = add_target_images(tenant, [(target, make_galaxy(1).fits_bytes(), "s")])
        tamper_with_weights(version)
        with pytest.raises(ArtifactCorrupt, match="refusing to load weights that changed"):
            services.classify(version, [image.pk])
        assert not Prediction.objects.filter(version=version).exists()
