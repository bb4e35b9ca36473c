"""The augmentation experiment: both trainings read the same real galaxies with the same split
and are tested on the same held-out real galaxies, the generated ones only ever on the training
side; a set that has not passed its gate is refused before any work; an experiment run on a
real worker puts each class's recall with and without the set side by side on the model page,
on both versions and in the API."""

import io

import numpy as np
import pytest
from astropy.io import fits
from django.core.files.base import ContentFile

from mlmodels import augmentation, registry, services
from mlmodels.augmentation import TEST_PER_CLASS, experiment_sets, experiment_when_judged, request_experiment
from mlmodels.diffusion import galaxy_unet
from mlmodels.models import AugmentationExperiment, GeneratedSet, MLModel
from mlmodels.normalisation import asinh_normalise
from mlmodels.synthetic_galaxies import KINDS, SKY_NOISE, survey_galaxies
from mlmodels.training import weights_of
from mlmodels.training_sets import SurveyGalaxies
from portal.models import Job
from portal.tenancy import tenant_context
from tests.conftest import api_client
from tests.waiting import finished

GENERATOR_GALAXIES = 600  # ~18 mergers in survey proportions


def _generator(tenant, user):
    """A generative version said to have learnt from the first ``GENERATOR_GALAXIES`` survey galaxies."""
    model = services.create_task_model(tenant, user, name="galaxy-diffusion", task="generative")
    config = {"pretrained_cfg": {"normalisation": "asinh-sky", "band_noise": list(SKY_NOISE)}}
    return registry.save_version(model, user, weights=weights_of(galaxy_unet(len(KINDS), 3)), config=config,
                                 metrics={"examples_per_class": {"merger": 40}, "val_loss": 1.0},
                                 training_data={"count": GENERATOR_GALAXIES, "seed": 0})  # fmt: skip


def _mergers(count, seed=50_000):
    """Real mergers none of the experiment's galaxies share: what a perfect generator would make."""
    return SurveyGalaxies().examples_of("merger", count, seed=seed, size=32)


def _passed_set(tenant, version, user, count=48):
    """A set of ``count`` held-out real mergers, passed: a set of real galaxies passes the gate
    (tests/mlmodels/test_generation.py), and it is the experiment, not the gate, on trial here."""
    generated = GeneratedSet.objects.create(tenant=tenant, version=version, class_name="merger", count=count,
                                            gate=GeneratedSet.Gate.PASSED, created_by=user)  # fmt: skip
    buffer = io.BytesIO()
    fits.PrimaryHDU(_mergers(count)).writeto(buffer)
    generated.cube.save("galaxies.fits", ContentFile(buffer.getvalue()))
    return generated


def test_both_trainings_share_the_real_galaxies_and_the_split_and_generated_ones_only_train(tenant_factory):
    tenant, users = tenant_factory()
    with tenant_context(tenant):
        version = _generator(tenant, users["admin"])
    added = _mergers(20)

    def sets(seed):
        return experiment_sets(SurveyGalaxies(), learnt=version.training_data, size=32, class_name="merger",
                               added=added, seed=seed, origin="g v1", added_name="set 1")  # fmt: skip

    without, with_set = sets(3)
    real = len(without.images)
    assert real == GENERATOR_GALAXIES + TEST_PER_CLASS * len(KINDS) and len(with_set.images) == real + 20
    assert np.array_equal(with_set.images[:real], without.images) and np.array_equal(with_set.sides[:real],
                                                                                     without.sides)  # fmt: skip
    # The real galaxies are the generator's own, split 85/15; the test galaxies are others, TEST_PER_CLASS a class.
    counts, labels = survey_galaxies(GENERATOR_GALAXIES, seed=0, size=32)
    assert np.allclose(without.images[:GENERATOR_GALAXIES], asinh_normalise(counts))
    assert np.array_equal(without.labels[:GENERATOR_GALAXIES], labels)
    assert not np.any(without.sides[:GENERATOR_GALAXIES] == 2)
    assert abs(np.mean(without.sides[:GENERATOR_GALAXIES] == 1) - 0.15) < 0.01
    test = without.sides == 2
    assert np.array_equal(np.bincount(without.labels[test]), [TEST_PER_CLASS] * len(KINDS))
    # The generated galaxies train only, labelled as the set's class.
    assert np.array_equal(with_set.sides[real:], np.zeros(20))
    assert set(with_set.labels[real:]) == {KINDS.index("merger")}
    assert np.allclose(with_set.images[real:], asinh_normalise(added))
    again, _ = sets(3)
    assert np.array_equal(again.sides, without.sides), "one seed, one split"


def test_an_experiment_on_a_set_not_passed_or_of_another_observatory_is_refused_and_leaves_nothing(
    tenant_factory, client
):
    tenant, users = tenant_factory()
    other, other_users = tenant_factory()
    admin = users["admin"]
    with tenant_context(tenant):
        version = _generator(tenant, admin)
        pending = GeneratedSet.objects.create(tenant=tenant, version=version, class_name="merger", count=8)
        failed = GeneratedSet.objects.create(tenant=tenant, version=version, class_name="merger", count=8,
                                             gate=GeneratedSet.Gate.FAILED,
                                             gate_reasons=["synthetic galaxy distance 20.9 is over 2×"])  # fmt: skip
        passed = _passed_set(tenant, version, admin, count=8)
        for generated, epochs, reason in ((pending, 5, "not judged yet"), (failed, 5, "failed the quality gate"),
                                          (passed, 0, "trains each version for 1 to 50")):  # fmt: skip
            with pytest.raises(augmentation.ExperimentRefused, match=reason):
                request_experiment(tenant, generated, admin, epochs=epochs)
    client.force_login(admin)
    page = client.get(f"/t/{tenant.slug}/generated/{failed.pk}/")
    assert "Not possible: set" in page.text and "synthetic galaxy distance 20.9" in page.text
    assert 'id="experiment-form"' not in page.text
    answer = client.post(f"/t/{tenant.slug}/generated/{failed.pk}/experiment/", {"epochs": 5, "seed": 0}, follow=True)
    assert "failed the quality gate" in answer.text
    api = api_client(tenant, admin)
    refused = api.post("/api/v1/augmentation-experiments/", {"generated_set": pending.pk}, format="json")
    assert refused.status_code == 400 and "not judged yet" in str(refused.json())
    with tenant_context(other):
        forged = _passed_set(other, _generator(other, other_users["admin"]), other_users["admin"], count=8)
    refused = api.post("/api/v1/augmentation-experiments/", {"generated_set": forged.pk}, format="json")
    assert refused.status_code == 400 and "no generated set of this observatory" in str(refused.json())
    with tenant_context(tenant):
        assert not AugmentationExperiment.objects.exists() and not Job.objects.filter(kind="experiment").exists()
        assert not MLModel.objects.filter(name="galaxy-diffusion-augmentation").exists()


def test_the_demo_asks_for_its_experiment_only_once_its_set_passed(tenant_factory):
    tenant, users = tenant_factory()
    admin = users["admin"]
    with tenant_context(tenant):
        version = _generator(tenant, admin)
        assert experiment_when_judged(tenant, version.model, admin, epochs=2) is False, "nothing serves yet"
        registry.promote(version)
        generated = GeneratedSet.objects.create(tenant=tenant, version=version, class_name="merger", count=8)
        assert experiment_when_judged(tenant, version.model, admin, epochs=2) is False, "not judged yet: ask again"
        generated.gate = GeneratedSet.Gate.FAILED
        generated.save()
        assert experiment_when_judged(tenant, version.model, admin, epochs=2) is None, "nobody may train on it"
        generated.gate = GeneratedSet.Gate.PASSED
        generated.save()
        experiment = experiment_when_judged(tenant, version.model, admin, epochs=2)
        assert (experiment.generated_set, experiment.epochs, experiment.job.kind) == (generated, 2, "experiment")
        assert experiment_when_judged(tenant, version.model, admin, epochs=2) is None, "a second delivery"


@pytest.mark.live
def test_an_experiment_on_a_worker_sets_each_class_recall_with_and_without_the_set_side_by_side(
    client, workers, committed_tenant_factory
):
    tenant, users = committed_tenant_factory(members=(("admin", "admin"), ("astronomer", "astronomer")))
    other, other_users = committed_tenant_factory()
    admin = users["admin"]
    with tenant_context(tenant):
        generated = _passed_set(tenant, _generator(tenant, admin), admin)
    client.force_login(users["astronomer"])
    assert 'id="experiment-form"' not in client.get(f"/t/{tenant.slug}/generated/{generated.pk}/").text
    client.force_login(admin)
    assert 'id="experiment-form"' in client.get(f"/t/{tenant.slug}/generated/{generated.pk}/").text
    response = client.post(f"/t/{tenant.slug}/generated/{generated.pk}/experiment/", {"epochs": 3, "seed": 1})
    assert response.status_code == 302 and "/jobs/" in response["Location"]
    with tenant_context(tenant):
        experiment = AugmentationExperiment.objects.select_related("job", "model").get(generated_set=generated)
    job = finished(tenant, experiment.job, timeout=300)
    assert job.status == "succeeded", job.message
    assert job.message.startswith("merger recall") and "with it" in job.message

    with tenant_context(tenant):
        experiment = AugmentationExperiment.objects.select_related("model", "without_set", "with_set").get(
            pk=experiment.pk
        )
        without, with_set = experiment.without_set, experiment.with_set
    model = experiment.model
    assert (model.name, model.task, model.input_spec["size"]) == ("galaxy-diffusion-augmentation", "morphology", 32)
    assert (without.number, with_set.number) == (1, 2) and {without.stage, with_set.stage} == {"staging"}
    assert with_set.training_data["count"] == without.training_data["count"] + 48
    assert with_set.training_data["generated_set"] == generated.pk and without.training_data["generated_set"] is None
    for version in (without, with_set):
        assert version.metrics["test_examples"] == TEST_PER_CLASS * len(KINDS), "the same held-out galaxies"
    comparison = without.metrics["augmentation"]
    assert with_set.metrics["augmentation"] == {**comparison, "with_set": True} and comparison["with_set"] is False
    assert comparison["versions"] == {"without": 1, "with": 2} and comparison["synthetic_examples"] == 48
    assert [row["class"] for row in comparison["recall"]] == list(KINDS)
    for row in comparison["recall"]:
        assert row["without"] == without.metrics["per_class"][row["class"]]["recall"]
        assert row["with"] == with_set.metrics["per_class"][row["class"]]["recall"]
        assert row["difference"] == pytest.approx(row["with"] - row["without"]) and row["support"] == TEST_PER_CLASS

    page = client.get(f"/t/{tenant.slug}/models/{model.pk}/")
    merger = next(row for row in comparison["recall"] if row["class"] == "merger")
    assert f'id="experiment-{experiment.pk}-recall"' in page.text
    assert f'id="experiment-{experiment.pk}-figure"' in page.text
    assert f"{merger['without']:.3f}" in page.text and f"{merger['with']:.3f}" in page.text
    assert "(the set's class)" in page.text
    set_page = client.get(f"/t/{tenant.slug}/generated/{generated.pk}/")
    assert f"merger recall {merger['without']:.3f} without the set" in set_page.text

    listed = api_client(tenant, admin).get(f"/api/v1/augmentation-experiments/{experiment.pk}/").json()
    assert (listed["without_set"], listed["with_set"], listed["status"]) == (1, 2, "succeeded")
    assert listed["comparison"]["recall"] == comparison["recall"]
    other_api = api_client(other, other_users["admin"])
    assert other_api.get(f"/api/v1/augmentation-experiments/{experiment.pk}/").status_code == 404
    client.force_login(other_users["admin"])
    assert client.get(f"/t/{other.slug}/generated/{generated.pk}/").status_code == 404
