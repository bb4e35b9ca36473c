"""Generated galaxies: the statistics they are judged by measure what the generator drew; the
gate passes real galaxies and stops a set that is too bright or copies its training set; a
request a generator cannot answer is refused before any work; a set made on a real worker is
stored flagged synthetic with its provenance and report, on its page and in the API, and is
refused for training until it passes."""

import io

import numpy as np
import pytest
import torch
from astropy.io import fits
from django.conf import settings
from django.core.management import CommandError, call_command

from mlmodels import generation, generation_quality, registry, services
from mlmodels.diffusion import LAYOUT_STEPS, TIMESTEPS, class_order, galaxy_unet, sample, training_steps
from mlmodels.models import GeneratedSet, ModelVersion
from mlmodels.normalisation import asinh_sky
from mlmodels.synthetic_galaxies import KINDS, SKY_NOISE, ZERO_POINT, make_galaxies, survey_kinds
from mlmodels.training import weights_of
from mlmodels.training_sets import FOCUS_SHARE, CleanFramePatches, SurveyGalaxies, focused_shares
from portal.models import Job
from portal.tenancy import tenant_context
from tests.conftest import api_client
from tests.waiting import finished


def _cubes(galaxies):
    return np.stack([galaxy.image for galaxy in galaxies])


def _statistics(cubes):
    return generation_quality.galaxy_statistics(cubes, "grz", ZERO_POINT)


def test_the_statistics_measure_the_magnitudes_colours_and_shapes_the_generator_drew():
    galaxies = make_galaxies(40, seed=3, size=64, kinds=("elliptical",))
    measured = _statistics(_cubes(galaxies))
    drawn_magnitude = np.array([galaxy.params["magnitude_r"] for galaxy in galaxies])
    flattening = np.array([1 - galaxy.params["axis_ratio"] for galaxy in galaxies])
    # A cutout holds most of a galaxy's light: magnitudes a little fainter than the whole, never brighter.
    offset = measured["magnitude_r"] - drawn_magnitude
    assert 0 < np.median(offset) < 0.35 and np.std(offset) < 0.2
    # Elliptical light is the bulge's colour: 0.55 of r in g, 2.5 log10(1/0.55) = 0.65 mag redder.
    assert abs(np.median(measured["colour_g-r"]) - 0.65) < 0.1
    assert np.corrcoef(measured["ellipticity_r"], flattening)[0, 1] > 0.8
    assert np.all(measured["half_light_radius_r"] > 1) and np.all(measured["half_light_radius_r"] < 32)


def _report(generated, comparison, reference, training):
    """A generated set's report as a worker makes it, without the encoder's Fréchet distance."""
    return generation_quality.report(generated, asinh_sky(generated, SKY_NOISE), reference, comparison, training,
                                     bands="grz", zero_point=ZERO_POINT, band_noise=SKY_NOISE,
                                     frechet={"reason": "no encoder here"})  # fmt: skip


def test_the_gate_passes_real_galaxies_and_stops_a_set_too_bright_or_copied_from_its_training_set():
    real = _cubes(make_galaxies(296, seed=10_000, size=32, kinds=("merger",)))
    reference, comparison, other = real[:200], real[200:248], real[248:]
    training_cubes = _cubes(make_galaxies(48, seed=20_000, size=32, kinds=("merger",)))
    training = asinh_sky(training_cubes, SKY_NOISE)

    passed, reasons = generation_quality.gate(_report(other, comparison, reference, training), settings.GENERATION_GATE)
    assert passed, reasons

    too_bright = _report(other * 2.5, comparison, reference, training)  # every merger a magnitude brighter
    passed, reasons = generation_quality.gate(too_bright, settings.GENERATION_GATE)
    assert not passed and {reason.split(" is off")[0] for reason in reasons} == {"magnitude g", "magnitude r",
                                                                                 "magnitude z"}  # fmt: skip
    assert too_bright["statistics"]["magnitude_r"]["cohens_d"] < -0.8
    assert abs(too_bright["statistics"]["colour_g-r"]["cohens_d"]) < 0.5, "colours are unchanged by brightening"
    far_too_bright = _report(other * 10, comparison, reference, training)
    passed, reasons = generation_quality.gate(far_too_bright, settings.GENERATION_GATE)
    assert any(reason.startswith("synthetic galaxy distance") for reason in reasons)

    copied = _report(training_cubes, comparison, reference, training)
    passed, reasons = generation_quality.gate(copied, settings.GENERATION_GATE)
    assert not passed and any("copies its training set" in reason for reason in reasons)


def test_the_frechet_distance_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    first, second = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    same = generation_quality.frechet_distance(first, second)
    shifted = generation_quality.frechet_distance(first + 1.0, second)
    assert same < 0.3 and abs(shifted - 8 - same) < 1.0  # ‖Δμ‖² = 8 for a shift of 1 in each of 8 dimensions


def test_a_generator_learns_its_rare_class_as_often_as_the_common_ones():
    labels = np.array([KINDS.index(kind) for kind in survey_kinds(3000)])  # what a generator learns: mergers 3%
    drawn = labels[class_order(np.arange(len(labels)), labels, np.random.default_rng(0))]
    shares = np.bincount(drawn, minlength=len(KINDS)) / len(drawn)
    assert np.bincount(labels)[KINDS.index("merger")] / len(labels) < 0.05
    assert np.allclose(shares, 1 / len(KINDS), atol=0.03), dict(zip(KINDS, shares.round(3)))


def test_a_generator_trained_for_mergers_sees_mergers_in_nine_draws_of_ten_and_every_other_class_still():
    labels = np.array([KINDS.index(kind) for kind in survey_kinds(3000)])
    merger = KINDS.index("merger")
    focus = focused_shares(len(KINDS), merger)
    drawn = labels[class_order(np.arange(len(labels)), labels, np.random.default_rng(0), focus)]
    shares = np.bincount(drawn, minlength=len(KINDS)) / len(drawn)
    assert abs(shares[merger] - FOCUS_SHARE) < 0.02, dict(zip(KINDS, shares.round(3)))
    others = np.delete(shares, merger)
    assert np.allclose(others, (1 - FOCUS_SHARE) / (len(KINDS) - 1), atol=0.01), dict(zip(KINDS, shares.round(3)))


def test_a_generator_learns_half_its_steps_where_a_galaxys_layout_is_decided_and_an_inpainter_every_step_alike():
    low, high = LAYOUT_STEPS
    share, layout_fraction = SurveyGalaxies.layout_share, (high - low + 1) / TIMESTEPS

    def steps_drawn(layout_share):
        drawn = training_steps(50_000, TIMESTEPS, torch.Generator().manual_seed(0), layout_share)
        return np.bincount(drawn.numpy(), minlength=TIMESTEPS)

    for_generator, for_inpainter = steps_drawn(share), steps_drawn(CleanFramePatches.layout_share)
    inside = for_generator[low : high + 1].sum() / for_generator.sum()
    assert share == 0.5 and abs(inside - (share + (1 - share) * layout_fraction)) < 0.01, inside
    assert for_generator.min() > 0, "the clean and the noisiest steps are still learnt"
    assert for_generator[low : high + 1].mean() > 2.5 * for_generator[:low].mean()
    assert abs(for_inpainter[low : high + 1].sum() / for_inpainter.sum() - layout_fraction) < 0.01


def test_guidance_mixes_in_the_unconditional_only_where_a_galaxys_layout_is_decided(monkeypatch):
    torch.manual_seed(0)
    network = galaxy_unet(len(KINDS), 3).eval()
    merger, no_class = torch.full((2,), KINDS.index("merger")), torch.full((2,), len(KINDS))
    # Three DDIM steps visit t = 999, 500 and 0: only 500 is where the layout is decided.
    conditional = sample(network, merger, [5, 6], size=16, steps=3, guidance=1.0)
    guided = sample(network, merger, [5, 6], size=16, steps=3, guidance=0.0)
    assert not torch.allclose(conditional, guided, atol=1e-3), "guidance changes the galaxies at t = 500"
    # Two steps visit only t = 999 and 0: nothing is guided.
    assert torch.equal(sample(network, merger, [5, 6], size=16, steps=2, guidance=0.0),
                       sample(network, merger, [5, 6], size=16, steps=2, guidance=1.0))  # fmt: skip
    monkeypatch.setattr("mlmodels.diffusion.GUIDED_STEPS", (0, TIMESTEPS - 1))
    unconditional_alone = sample(network, no_class, [5, 6], size=16, steps=3, guidance=1.0)
    mixed = sample(network, merger, [5, 6], size=16, steps=3, guidance=0.0)  # all unconditional, by the mixing
    assert torch.allclose(mixed, unconditional_alone, atol=1e-5)


def test_a_generator_learns_colours_amplified_and_samples_in_the_basis_its_weights_were_saved_with(monkeypatch):
    network = galaxy_unet(len(KINDS), 3)
    grey, bluer = torch.ones(1, 3, 2, 2), torch.tensor([1.1, 1.0, 1.0])[None, :, None, None].expand(1, 3, 2, 2)
    learnt_grey, learnt_bluer = network.to_learnt(grey), network.to_learnt(bluer)
    assert torch.allclose(learnt_grey[:, 1:], torch.zeros(1)), "a grey image has no colour"
    # 0.1 more in g, in the bands: √(1/3) of it in the mean, ×3 in the differences.
    change = (learnt_bluer - learnt_grey)[0, :, 0, 0]
    assert torch.allclose(change.norm(), torch.tensor(0.1 * (1 / 3 + 9 * 2 / 3) ** 0.5), atol=1e-5)
    assert torch.allclose(network.from_learnt(learnt_bluer), bluer, atol=1e-6)
    saved = weights_of(network)
    monkeypatch.setattr("mlmodels.diffusion.COLOUR_GAIN", 1.0)
    loaded = galaxy_unet(len(KINDS), 3)
    loaded.load_state_dict({name: torch.from_numpy(array) for name, array in saved.items()})
    assert torch.equal(loaded.basis, network.basis), "a version keeps the basis it learnt in"
    torch.manual_seed(0)
    made = sample(loaded.eval(), torch.full((2,), KINDS.index("merger")), [5, 6], size=16, steps=3)
    assert made.shape == (2, 3, 16, 16) and made.min() >= -1.0 - 1e-4 and made.max() <= 3.0 + 1e-4, (
        "sampled in the bands' scale, held to its range there"
    )


def _generator(tenant, user, examples_per_class):
    """A registered generative version with the U-Net's initial weights, said to have learnt from
    ``examples_per_class``: its galaxies are real DDIM samples, whatever they are worth."""
    model = services.create_task_model(tenant, user, name="galaxy-diffusion", task="generative")
    config = {"pretrained_cfg": {"normalisation": "asinh-sky", "band_noise": list(SKY_NOISE)}}
    return registry.save_version(model, user, weights=weights_of(galaxy_unet(len(KINDS), 3)), config=config,
                                 metrics={"examples_per_class": examples_per_class, "val_loss": 1.0,
                                          "split": {"validation": 10}},
                                 training_data={"count": 240, "seed": 0})  # fmt: skip


def test_requests_a_generator_cannot_answer_are_refused_naming_why_and_leave_nothing(tenant_factory, client):
    tenant, users = tenant_factory(members=(("admin", "admin"), ("astronomer", "astronomer")))
    admin = users["admin"]
    with tenant_context(tenant):
        version = _generator(tenant, admin, {"elliptical": 80, "merger": 12})
        classifier = registry.save_version(
            services.create_task_model(tenant, admin, name="galaxy-morphology", task="morphology"), admin,
            weights={"w": np.zeros(1, np.float32)},
        )  # fmt: skip
        asked = {"class_name": "elliptical", "count": 8, "steps": 5, "guidance": 2.0}
        refusals = [
            (classifier, asked, "galaxy morphology model; only a generative model makes galaxies"),
            (version, {**asked, "class_name": "quasar"}, "makes elliptical, spiral"),
            (version, {**asked, "count": settings.GENERATION_MAX_IMAGES + 1},
             f"a set holds 1 to {settings.GENERATION_MAX_IMAGES} at once"),
            (version, {**asked, "class_name": "merger"}, "learnt from only 12 real merger galaxies; at least 40"),
        ]  # fmt: skip
        for asked_of, fields, reason in refusals:
            with pytest.raises(generation.GenerationRefused, match=reason):
                generation.request_generation(tenant, asked_of, admin, **fields)
    client.force_login(users["astronomer"])
    page = client.post(f"/t/{tenant.slug}/models/{version.model_id}/v1/generate/", {**asked, "class_name": "merger"},
                       follow=True)  # fmt: skip
    assert "learnt from only 12 real merger galaxies" in page.text
    answer = api_client(tenant, users["astronomer"]).post(
        "/api/v1/generated-sets/",
        {"model": "galaxy-diffusion", "version": 1, "class_name": "elliptical", "count": 100_000}, format="json",
    )  # fmt: skip
    assert answer.status_code == 400 and "a set holds 1 to" in str(answer.json())
    with tenant_context(tenant):
        assert not GeneratedSet.objects.exists() and not Job.objects.filter(kind="generation").exists()


def test_the_command_makes_and_judges_a_set_here_and_refuses_what_the_generator_cannot_answer(tenant_factory):
    tenant, users = tenant_factory()
    with tenant_context(tenant):
        version = _generator(tenant, users["admin"], {"elliptical": 80, "merger": 12})
    out = io.StringIO()
    asked = ("--model-version", "1", "--count", "3", "--steps", "3", "--seed", "7", "--user", users["admin"].username)
    call_command("generate_galaxies", tenant.slug, "galaxy-diffusion", "elliptical", *asked, stdout=out)
    said = out.getvalue()
    assert "3 of 3 galaxies made (3 DDIM steps, guidance 3)" in said and "judging them against real galaxies" in said
    assert "Quality gate failed; it may not be trained on:" in said, "an untrained network's noise is no galaxy"
    with tenant_context(tenant):
        generated = GeneratedSet.objects.get()
        assert (generated.version, generated.seed, generated.gate, generated.job.status) == (
            version, 7, "failed", "succeeded")  # fmt: skip
        assert generated.cube and f"Set {generated.pk}: 3 synthetic elliptical galaxies from galaxy-diffusion" in said
        assert all(f"  - {reason}" in said for reason in generated.gate_reasons)
    refused = ((("galaxy-morphology", "elliptical"), "no model named 'galaxy-morphology'"),
               (("galaxy-diffusion", "merger"), "learnt from only 12 real merger galaxies"))  # fmt: skip
    for arguments, reason in refused:
        with pytest.raises(CommandError, match=reason):
            call_command("generate_galaxies", tenant.slug, *arguments, "--model-version", "1", stdout=io.StringIO())
    with tenant_context(tenant):
        assert GeneratedSet.objects.count() == 1


def test_a_set_is_refused_for_training_until_it_passes_the_gate(tenant_factory):
    tenant, users = tenant_factory()
    with tenant_context(tenant):
        version = _generator(tenant, users["admin"], {"elliptical": 80})
        generated = GeneratedSet.objects.create(tenant=tenant, version=version, class_name="elliptical", count=4)
        with pytest.raises(generation.GenerationRefused, match="not judged yet"):
            generation.usable_for_training(generated)
        generated.gate, generated.gate_reasons = GeneratedSet.Gate.FAILED, ["synthetic galaxy distance 9.1 is more"]
        with pytest.raises(generation.GenerationRefused, match="failed the quality gate .synthetic galaxy distance"):
            generation.usable_for_training(generated)
        generated.gate = GeneratedSet.Gate.PASSED
        assert generation.usable_for_training(generated) is generated


def test_a_set_made_on_a_worker_is_flagged_synthetic_with_its_provenance_and_report(
    client, workers, committed_tenant_factory
):
    tenant, users = committed_tenant_factory(members=(("admin", "admin"), ("astronomer", "astronomer")))
    other, other_users = committed_tenant_factory()
    with tenant_context(tenant):
        counts = SurveyGalaxies().build(240, seed=0, size=32).labels
        version = _generator(tenant, users["admin"], {name: int((counts == i).sum()) for i, name in enumerate(KINDS)})
    client.force_login(users["astronomer"])
    model_page = client.get(f"/t/{tenant.slug}/models/{version.model_id}/")
    assert "Generate galaxies with v1" in model_page.text and 'id="examples-per-class"' in model_page.text
    asked = {"class_name": "elliptical", "count": 6, "steps": 4, "guidance": 2.0, "seed": 11}
    response = client.post(f"/t/{tenant.slug}/models/{version.model_id}/v1/generate/", asked)
    assert response.status_code == 302 and "/generated/" in response["Location"]
    waiting = client.get(response["Location"])
    assert 'data-reload-when-done="true"' in waiting.text and "synthetic" in waiting.text
    generated = waiting.context["generated"]
    assert finished(tenant, generated.job).status == "succeeded", finished(tenant, generated.job).message

    page = client.get(response["Location"])
    with tenant_context(tenant):
        generated.refresh_from_db()
    assert generated.gate == "failed", "an untrained network's noise is no galaxy"
    assert "Quality gate: failed" in page.text and "synthetic galaxy distance" in page.text
    assert 'id="quality-histograms"' in page.text and 'id="grid-image"' in page.text
    assert "not measured: no morphology model in production" in page.text
    report = generated.report
    assert report["sizes"] == {"generated": 6, "real_reference": 200, "real_comparison": 6,
                               "training_galaxies_of_the_class": int((counts == 0).sum())}  # fmt: skip
    assert report["synthetic_galaxy_distance"]["generated"] > 2 * report["synthetic_galaxy_distance"]["real"]
    assert sum(generated.grid_key) == 6 and len(generated.grid_key) == 12

    download = client.get(f"/t/{tenant.slug}/generated/{generated.pk}/fits/")
    with fits.open(io.BytesIO(b"".join(download.streaming_content))) as hdus:
        header, cube = hdus[0].header, hdus[0].data
    assert cube.shape == (6, 3, 32, 32) and header["SYNTHETI"] is True
    assert (header["GENMODEL"], header["GENVERS"], header["GENCLASS"], header["SAMPLER"], header["STEPS"],
            header["SEED0"]) == ("galaxy-diffusion", 1, "elliptical", "ddim", 4, 11)  # fmt: skip
    assert (header["GUIDANCE"], header["GUIDHIGH"], header["GUIDLOW"]) == (2.0, 850, 400)
    assert "guidance 2.0 at timesteps 850–400 of 1,000, where a galaxy's layout is decided" in page.text

    listed = api_client(tenant, users["astronomer"]).get(f"/api/v1/generated-sets/{generated.pk}/").json()
    assert listed["synthetic"] is True and listed["gate"] == "failed" and listed["gate_reasons"]
    assert listed["sampler"] == {"name": "ddim", "steps": 4, "guidance": 2.0, "eta": 0.0, "guided_steps": [400, 850]}
    assert listed["fits_url"].endswith(f"/api/v1/generated-sets/{generated.pk}/file/")
    assert "elliptical" in client.get(f"/t/{tenant.slug}/generated/").text

    client.force_login(other_users["admin"])
    assert client.get(f"/t/{other.slug}/generated/{generated.pk}/").status_code == 404
    assert api_client(other, other_users["admin"]).get(f"/api/v1/generated-sets/{generated.pk}/").status_code == 404


def test_a_new_generator_is_asked_for_its_first_set_once_it_serves_and_only_once(tenant_factory):
    tenant, users = tenant_factory()
    admin = users["admin"]
    asked = {"class_name": "elliptical", "count": 8, "steps": 5, "guidance": 2.0}
    with tenant_context(tenant):
        version = _generator(tenant, admin, {"elliptical": 80})
        assert generation.generate_when_trained(tenant, version.model, admin, **asked) is None, "not serving yet"
        registry.promote(version)
        generated = generation.generate_when_trained(tenant, version.model, admin, **asked)
        assert (generated.version, generated.class_name, generated.job.kind) == (version, "elliptical", "generation")
        assert generation.generate_when_trained(tenant, version.model, admin, **asked) is None, "a second delivery"
        assert GeneratedSet.objects.count() == 1


def test_a_generator_trains_as_a_registry_task_and_is_scored_beside_the_version_it_would_replace(tenant_factory):
    tenant, users = tenant_factory()
    admin = users["admin"]
    with tenant_context(tenant):
        model = services.create_task_model(tenant, admin, name="galaxy-diffusion", task="generative")
        assert model.architecture == "module:mlmodels.diffusion.galaxy_unet" and model.input_spec["size"] == 32
        first = services.train_version(model, admin, examples=120, epochs=2)
        registry.promote(first)
        second = services.train_version(model, admin, examples=120, epochs=1, seed=1)
    assert first.config["pretrained_cfg"] == {"normalisation": "asinh-sky", "band_noise": list(SKY_NOISE),
                                              "input_size": [3, 32, 32]}  # fmt: skip
    assert sum(first.metrics["examples_per_class"].values()) == 120
    assert first.metrics["batch_size"] == SurveyGalaxies.batch_size == 32  # twice the updates of the inpainter's 64
    assert [row["epoch"] for row in first.metrics["history"]] == [1, 2]
    assert first.metrics["history"][1]["val_loss"] < first.metrics["history"][0]["val_loss"]
    assert "val_accuracy" not in first.metrics["history"][0]
    assert (
        set(second.metrics["rivals"]) == {"v1 (production)"}
        and second.metrics["rivals"]["v1 (production)"]["val_loss"] > 0
    )
    assert services.headline_score(second.metrics, "galaxies")[1].startswith("validation loss")


def test_a_generator_trained_for_mergers_says_so_on_its_version_and_a_focus_it_cannot_have_is_refused(tenant_factory):
    tenant, users = tenant_factory()
    out = io.StringIO()
    call_command("train_model", tenant.slug, "galaxy-diffusion", "--task", "generative", "--examples", "120",
                 "--epochs", "1", "--focus", "merger", stdout=out)  # fmt: skip
    with tenant_context(tenant):
        version = ModelVersion.objects.get(model__name="galaxy-diffusion")
        services.create_task_model(tenant, users["admin"], name="galaxy-morphology", task="morphology")
    assert version.metrics["class_shares"]["merger"] == FOCUS_SHARE
    assert version.training_data["summary"].endswith("; merger in 90% of the draws")
    refused = ((("galaxy-morphology", "--focus", "merger"), "only a generator of several classes is trained for one"),
               (("galaxy-diffusion", "--focus", "quasar"), "makes elliptical, spiral, .*; not 'quasar'"))  # fmt: skip
    for arguments, reason in refused:
        with pytest.raises(CommandError, match=reason):
            call_command("train_model", tenant.slug, *arguments, "--examples", "120", "--epochs", "1",
                         stdout=io.StringIO())  # fmt: skip
    with tenant_context(tenant):
        assert ModelVersion.objects.count() == 1, "a refused training leaves no version"
