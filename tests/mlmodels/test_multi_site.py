"""Learned multi-site fusion's groundwork: synthetic sets of one galaxy seen by several sites in
their own conditions, and the set transformer that reads them whatever their order and number."""

import numpy as np
import pytest
import torch

from mlmodels import services
from mlmodels.multi_site import SITE_CONDITIONS, observation_set, observation_sets, packed
from mlmodels.networks import fusion_loss, set_fusion_transformer
from mlmodels.synthetic_galaxies import KINDS, galaxy_light, make_galaxy, observed
from mlmodels.training import observation_set_training_set, train_classifier
from portal.tenancy import tenant_context


def test_a_set_is_one_galaxy_seen_by_two_to_four_sites_each_in_its_own_conditions():
    sets = observation_sets(30, seed=0, size=32)
    assert [each.kind for each in sets[:6]] == list(KINDS)  # balanced
    for each in sets:
        assert 2 <= len(each.observations) <= 4
        for seen in each.observations:
            (best, worst), sky_scale, _ = SITE_CONDITIONS[seen.site]
            assert best <= seen.seeing_arcsec <= worst and seen.sky_scale == sky_scale
            assert seen.image.shape == (3, 32, 32) and seen.image.dtype == np.float32
    again = observation_set(7, size=32)
    assert all(
        np.array_equal(a.image, b.image) for a, b in zip(again.observations, observation_set(7, size=32).observations)
    )
    spoilt = [seen for each in sets for seen in each.observations if seen.spoilt]
    assert 0 < len(spoilt) < sum(len(each.observations) for each in sets) / 3


def test_worse_seeing_spreads_the_same_galaxy_s_light():
    galaxy = galaxy_light(3, "elliptical", 64)
    sharp = observed(galaxy.light, fwhm_arcsec=0.9, rng=np.random.default_rng(0))
    blurred = observed(galaxy.light, fwhm_arcsec=2.8, rng=np.random.default_rng(0))
    assert sharp[1].max() > 1.5 * blurred[1].max()
    assert blurred[1].sum() == pytest.approx(sharp[1].sum(), rel=0.05)  # the same light
    # make_galaxy is the same galaxy under the survey's seeing: its images are unchanged by the split.
    assert make_galaxy(3, "elliptical").params["magnitude_r"] == galaxy.params["magnitude_r"]


def packed_inputs(sets):
    arrays = packed(sets)
    inputs = [torch.from_numpy(arrays[key]) for key in ("images", "sites", "conditions", "present")]
    return inputs, torch.tensor([KINDS.index(each.kind) for each in sets])


def network():
    torch.manual_seed(0)
    return set_fusion_transformer(len(KINDS), 3).eval()


def test_the_fused_answer_ignores_the_order_and_the_padding_and_says_whom_it_trusted():
    inputs, _ = packed_inputs(observation_sets(4, seed=10, size=32))
    model = network()
    with torch.no_grad():
        outputs = model(*inputs)
        assert outputs["logits"].shape == (4, len(KINDS)) and outputs["uncertainty"].shape == (4,)
        assert outputs["single"].shape == (4, 4, len(KINDS))
        present = inputs[3]
        assert torch.allclose(outputs["attention"].sum(1), torch.ones(4), atol=1e-5)
        assert torch.all(outputs["attention"][~present] == 0)  # nobody trusts an observation that is not there
        # The first set's observations in reverse order: the same answer.
        count = int(present[0].sum())
        order = torch.cat([torch.arange(count).flip(0), torch.arange(count, 4)])
        shuffled = [tensor[:1, order] for tensor in inputs]
        assert torch.allclose(model(*shuffled)["logits"], outputs["logits"][:1], atol=1e-4)
        # Whatever sits in an absent slot changes nothing.
        noisy = [tensor.clone() for tensor in inputs]
        noisy[0][~present] = torch.randn_like(noisy[0][~present])
        assert torch.allclose(model(*noisy)["logits"], outputs["logits"], atol=1e-4)


def test_it_learns_a_small_set_of_sets_and_its_loss_trains_every_head():
    inputs, labels = packed_inputs(observation_sets(48, seed=100, size=32))
    model = network().train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(25):
        loss = fusion_loss(model(*inputs), labels, inputs[3])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert all(parameter.grad is not None for parameter in model.parameters() if parameter.requires_grad)


def test_training_compares_the_fused_class_with_the_best_single_site_and_the_average_on_the_same_sets():
    data = observation_set_training_set(180, seed=3, size=32)
    assert data.images.shape == (180, 4, 3, 32, 32) and data.observations["present"].sum(1).min() >= 2
    _, metrics = train_classifier(data, architecture="module:mlmodels.networks.set_fusion_transformer", epochs=2,
                                  learning_rate=1e-3)  # fmt: skip
    assert metrics["split"]["test"] == 27 and metrics["test_examples"] == 27
    assert set(metrics["rivals"]) == {"best single site", "average of the sites"}
    assert all(0 <= rival["accuracy"] <= 1 for rival in metrics["rivals"].values())
    assert len(metrics["history"]) == 2 and 0 <= metrics["accuracy"] <= 1


def test_a_learned_fusion_model_trains_into_the_registry_with_its_rivals_on_its_page(tenant_factory, client):
    tenant, users = tenant_factory(sites=[])
    with tenant_context(tenant):
        model = services.create_task_model(tenant, users["admin"], name="multi-site-fusion", task="fusion")
        assert model.architecture == "module:mlmodels.networks.set_fusion_transformer"
        assert model.input_spec["sites"] == ["tfn", "elp", "coj"] and list(model.class_names) == list(KINDS)
        version = services.train_version(model, users["admin"], examples=120, epochs=1)
        assert "multi-site sets" in version.training_data["summary"]
        assert set(version.metrics["rivals"]) == {"best single site", "average of the sites"}
    client.force_login(users["admin"])
    page = client.get(f"/t/{tenant.slug}/models/{model.pk}/")
    assert page.status_code == 200 and "best single site" in page.text and "average of the sites" in page.text
