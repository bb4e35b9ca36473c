"""Learned multi-site fusion's groundwork: synthetic sets of one galaxy seen by several sites in
their own conditions, and the set transformer that reads them whatever their order and number."""

import numpy as np
import pytest
import torch

from mlmodels.multi_site import FEATURES, SITE_CONDITIONS, SITES, observation_set, observation_sets
from mlmodels.networks import fusion_loss, set_fusion_transformer
from mlmodels.normalisation import asinh_normalise
from mlmodels.synthetic_galaxies import KINDS, galaxy_light, make_galaxy, observed


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


def packed(sets, size=32, most=4):
    images = np.zeros((len(sets), most, 3, size, size), np.float32)
    sites, features = np.zeros((len(sets), most), np.int64), np.zeros((len(sets), most, len(FEATURES)), np.float32)
    present = np.zeros((len(sets), most), bool)
    for row, each in enumerate(sets):
        for column, seen in enumerate(each.observations):
            images[row, column] = asinh_normalise(seen.image[None])[0]
            sites[row, column], features[row, column] = SITES.index(seen.site), seen.features
            present[row, column] = True
    labels = torch.tensor([KINDS.index(each.kind) for each in sets])
    return [torch.from_numpy(array) for array in (images, sites, features, present)], labels


def network():
    torch.manual_seed(0)
    return set_fusion_transformer(len(KINDS), 3, sites=len(SITES), features=len(FEATURES)).eval()


def test_the_fused_answer_ignores_the_order_and_the_padding_and_says_whom_it_trusted():
    inputs, _ = packed(observation_sets(4, seed=10, size=32))
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
    inputs, labels = packed(observation_sets(48, seed=100, size=32))
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
