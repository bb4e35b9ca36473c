"""Learned fusion served: a target imaged from two or more sites gets one class from all its
images, with how far each was trusted, on its page and in the API; what cannot be read is left
out naming why; a target seen from one site only is refused; promotion classifies the targets
waiting, and a target's image from a second site sends it to the gpu worker."""

import io

import numpy as np
import pytest
import torch
from astropy.io import fits

from mlmodels import registry, services
from mlmodels.models import FusedPrediction
from mlmodels.multi_site import conditions, header_seeing, observation_set, observe_from
from mlmodels.networks import set_fusion_transformer
from mlmodels.synthetic_galaxies import KINDS, galaxy_light, make_galaxy
from mlmodels.training import weights_of
from observations.fits import read_cube
from observations.images import add_target_images
from observations.models import Target
from portal.models import Site
from portal.tenancy import tenant_context
from tests.conftest import api_client
from tests.waiting import eventually, finished

SITES = ("tfn", "elp", "coj")


def untrained_fusion_version(tenant, user):
    """A registered learned-fusion version holding the network's initial weights: its answers
    are real forward passes, whatever they are worth."""
    model = services.create_task_model(tenant, user, name="multi-site-fusion", task="fusion")
    torch.manual_seed(0)
    return registry.save_version(model, user, weights=weights_of(set_fusion_transformer(len(KINDS), 3)))


def galaxy(tenant, name, number):
    return Target.objects.create(tenant=tenant, name=name, ra_deg=150 + number, dec_deg=2, kind="galaxy")


def add_site_images(tenant, target, codes, seed=0):
    """One night's 32-px cutout of the same galaxy from each site in ``codes``."""
    light = galaxy_light(seed, "spiral", size=32).light
    rng = np.random.default_rng(seed)
    for code in codes:
        site = Site.objects.get(tenant=tenant, code=code)
        add_target_images(tenant, [(target, observe_from(code, light, rng).fits_bytes(), f"one night at {code}")],
                          site=site)  # fmt: skip


@pytest.fixture
def observatory(tenant_factory):
    tenant, users = tenant_factory(members=(("admin", "admin"), ("astronomer", "astronomer")), sites=SITES)
    with tenant_context(tenant):
        yield tenant, users, untrained_fusion_version(tenant, users["admin"])


def test_a_stored_image_is_described_to_the_network_as_the_training_sets_describe_theirs():
    for seen in observation_set(5, size=32).observations:
        data = seen.fits_bytes()
        cube, bands, _ = read_cube(data)
        served = conditions(cube, header_seeing(fits.getheader(io.BytesIO(data))))
        assert served == pytest.approx(seen.features) and bands == ["g", "r", "z"]
    light = galaxy_light(3, "elliptical", size=32).light
    dark, bright_sky = (observe_from(site, light, np.random.default_rng(1)) for site in ("tfn", "elp"))
    assert bright_sky.features[2] > 1.2 * dark.features[2], "2.5 times the sky is measured as more noise"


def test_a_target_imaged_from_three_sites_gets_one_class_and_each_image_s_share_of_trust(observatory, client):
    tenant, users, version = observatory
    target = galaxy(tenant, "NGC 4414", 0)
    add_site_images(tenant, target, SITES)
    add_target_images(tenant, [(target, make_galaxy(9, size=32).fits_bytes(), "an upload")])  # no site
    add_target_images(tenant, [(target, make_galaxy(9).fits_bytes(), "a survey")], site=Site.objects.get(code="elp"))
    two_bands = fits.PrimaryHDU(np.ones((2, 32, 32), np.float32), fits.Header({"BANDS": "g,r"}))
    buffer = io.BytesIO()
    two_bands.writeto(buffer)
    add_target_images(tenant, [(target, buffer.getvalue(), "g and r only")], site=Site.objects.get(code="tfn"))

    assert services.classify(version, [target.pk]) == 1
    fused = FusedPrediction.objects.get(version=version, target=target)
    assert fused.label in KINDS and sum(fused.probabilities.values()) == pytest.approx(1, abs=1e-3)
    assert 0 <= fused.uncertainty <= 1
    assert sorted(seen["site"] for seen in fused.observations) == sorted(SITES)
    assert sum(seen["weight"] for seen in fused.observations) == pytest.approx(1, abs=1e-3)
    assert all(0.5 < seen["seeing_arcsec"] < 3 and seen["label"] in KINDS for seen in fused.observations)
    reasons = {each["site"]: each["reason"] for each in fused.left_out}
    assert "no site" in reasons[None] and "needs bands g, r, z" in reasons["tfn"]
    assert reasons["elp"].startswith("64×64 px: the network reads the 32-px cutouts it learnt from")

    client.force_login(users["astronomer"])
    page = client.get(f"/t/{tenant.slug}/targets/{target.pk}/")
    assert 'id="learned-fusion"' in page.text and f'<tr class="best"><th>{fused.label}</th>' in page.text
    assert page.text.count('alt="image ') == 3 and "needs bands g, r, z" in page.text
    answer = api_client(tenant, users["astronomer"], scope="read").get(
        f"/api/v1/targets/{target.pk}/fused-classifications/").json()  # fmt: skip
    [result] = answer["results"]
    assert result["model"] == "multi-site-fusion" and result["label"] == fused.label
    assert [seen["image"] for seen in result["observations"]] == [seen["image"] for seen in fused.observations]


def test_a_target_seen_from_one_site_only_is_refused_saying_so(observatory):
    tenant, _, version = observatory
    target = galaxy(tenant, "NGC 4565", 1)
    add_site_images(tenant, target, ["tfn", "tfn"])
    assert services.classify(version, [target.pk]) == 0
    fused = FusedPrediction.objects.get(version=version, target=target)
    assert fused.refusal == "images from one site only (tfn): learned fusion needs two or more"
    assert not fused.label and not fused.observations


def test_another_observatory_sees_neither_the_answer_nor_the_target(observatory, tenant_factory):
    tenant, users, version = observatory
    target = galaxy(tenant, "NGC 4414", 0)
    add_site_images(tenant, target, SITES[:2])
    services.classify(version, [target.pk])
    outsider, outsiders = tenant_factory()
    with tenant_context(outsider):
        assert not FusedPrediction.objects.exists()
        response = api_client(outsider, outsiders["admin"]).get(f"/api/v1/targets/{target.pk}/fused-classifications/")
    assert response.status_code == 404


def test_promotion_classifies_the_targets_waiting_and_a_second_site_s_image_sends_its_target(
    workers, committed_tenant_factory
):
    tenant, users = committed_tenant_factory(sites=SITES)
    with tenant_context(tenant):
        version = untrained_fusion_version(tenant, users["admin"])
        several, single = galaxy(tenant, "ARS J1", 1), galaxy(tenant, "ARS J2", 2)
        add_site_images(tenant, several, ["tfn", "coj"])
        add_site_images(tenant, single, ["elp"])
        version, job = services.promote_version(version, users["admin"])
        finished(tenant, job)
        assert job.status == "succeeded" and job.result == {"classified": 1, "refused": 0}, job.message
        assert not FusedPrediction.objects.filter(target=single).exists(), "one site: nothing to fuse, not sent"
        add_site_images(tenant, single, ["tfn"], seed=1)
        fused = eventually(lambda: FusedPrediction.objects.filter(target=single).first(), 120,
                           "the gpu worker to classify the target now imaged from two sites")  # fmt: skip
        assert sorted(seen["site"] for seen in fused.observations) == ["elp", "tfn"] and fused.label in KINDS
