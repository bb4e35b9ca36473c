"""Alert classification: networks trained on the project's synthetic alerts tell real from
bogus and one kind of light curve from another; every served version answers for every new
alert (on a real gpu worker), per version, and says why when an alert cannot be read."""

import copy
import gzip
import io

import numpy as np
import pytest
from astropy.io import fits

from alerts.classifiers import classify_new_alerts
from alerts.models import Alert, AlertClassification, PendingAlert, Source
from alerts.services import ingest_packets
from alerts.synthetic import make_alert
from alerts.training_sets import light_curve_training_set, real_bogus_training_set
from mlmodels import registry, services
from mlmodels.models import MLModel
from mlmodels.registry import save_version
from mlmodels.runtime import build_network, folded, predict
from mlmodels.training import train_classifier, weights_of
from portal.tenancy import tenant_context
from tests.alerts.test_ingest import as_json
from tests.conftest import api_client
from tests.waiting import eventually, finished


def test_the_real_bogus_network_learns_the_stamps_and_the_light_curve_network_the_kinds():
    network, real_bogus = train_classifier(
        real_bogus_training_set(1000, seed=3), architecture="module:mlmodels.networks.real_bogus_cnn_slim"
    )
    assert real_bogus["accuracy"] > 0.9 and set(real_bogus["per_class"]) == {"bogus", "real"}
    # The gpu workers serve it folded and channels-last: the same answers as the trained network.
    unseen = real_bogus_training_set(100, seed=11).images
    trained, _ = predict(network.eval(), unseen)
    served, _ = predict(folded(copy.deepcopy(network).eval(), {}), unseen)
    assert np.abs(served - trained).max() < 1e-4 and (served.argmax(1) == trained.argmax(1)).all()
    _, kinds = train_classifier(light_curve_training_set(1500, seed=3), learning_rate=5e-3, epochs=25,
                                architecture="module:mlmodels.networks.light_curve_gru")  # fmt: skip
    assert kinds["accuracy"] > 0.7, kinds["per_class"]
    assert kinds["per_class"]["variable"]["recall"] > 0.8 and kinds["per_class"]["bogus"]["recall"] > 0.8


def wait_published(tenant, ids, timeout=60):
    """Until the gpu worker has sent every one of ``ids`` out to the feed."""
    with tenant_context(tenant):
        eventually(PendingAlert.objects.filter(alert_id__in=ids).count, timeout,
                   "the gpu worker to publish the alerts", until=lambda pending: pending == 0)  # fmt: skip


def serve_untrained(tenant, user):
    """A production real-bogus and light-curve version each: real forward passes, whatever
    their initial weights are worth."""
    versions = []
    for name, task in (("real-bogus", MLModel.Task.REAL_BOGUS), ("light-curve", MLModel.Task.LIGHT_CURVE)):
        model = services.create_task_model(tenant, user, name=name, task=task)
        network = build_network(model.architecture, num_classes=len(model.class_names),
                                in_chans=len(model.input_spec["bands"]))  # fmt: skip
        version, _ = services.promote_version(save_version(model, user, weights=weights_of(network)), user)
        versions.append(version)
    return versions


def test_every_served_version_classifies_each_alert_once_and_an_unreadable_stamp_is_a_refusal(tenant_factory):
    tenant, users = tenant_factory(sites=[])
    with tenant_context(tenant):
        real_bogus, light_curve = serve_untrained(tenant, users["admin"])
        stored = ingest_packets(tenant, [make_alert(60 + n).packet for n in range(3)], source=Source.REST).alerts
        broken = stored[0]
        empty = io.BytesIO()
        fits.PrimaryHDU(np.full((63, 63), np.nan, np.float32)).writeto(empty)
        Alert.objects.filter(pk=broken.pk).update(science_stamp=gzip.compress(empty.getvalue()))
        ids = [alert.pk for alert in stored]
        assert classify_new_alerts(tenant, ids) == {"real-bogus": 2, "light-curve": 3}
        classify_new_alerts(tenant, ids)
        answers = AlertClassification.objects.filter(alert_id__in=ids)
        assert answers.count() == 6, "one answer per (alert, version), however often it runs"
        refused = answers.get(alert=broken, version=real_bogus)
        assert refused.refusal == "the science stamp is not a 2-D image with finite pixels" and not refused.label
        for answer in answers.exclude(pk=refused.pk):
            assert answer.label in answer.version.model.class_names
            assert sum(answer.probabilities.values()) == pytest.approx(1, abs=1e-3)
        kinds = answers.get(alert=stored[1], version=light_curve)
    body = api_client(tenant, users["admin"]).get(f"/api/v1/alerts/{stored[1].pk}/").json()
    said = {answer["model"]: answer["label"] for answer in body["classifications"]}
    assert said["light-curve"] == kinds.label and said["real-bogus"] in ("real", "bogus")


def test_a_new_alert_is_classified_by_the_gpu_worker_moments_after_it_is_posted(workers, committed_tenant_factory):
    tenant, users = committed_tenant_factory(sites=[])
    with tenant_context(tenant):
        serve_untrained(tenant, users["admin"])
    response = api_client(tenant, users["admin"]).post("/api/v1/alerts/", as_json(make_alert(70).packet),
                                                       format="json")  # fmt: skip
    (alert_id,) = response.json()["ids"]
    with tenant_context(tenant):
        eventually(AlertClassification.objects.filter(alert_id=alert_id).count, 60,
                   "both versions to classify the alert", until=lambda count: count >= 2)  # fmt: skip
        assert set(AlertClassification.objects.filter(alert_id=alert_id).values_list("version__model__name",
                                                                                        flat=True)) == {
            "real-bogus", "light-curve"}  # fmt: skip


def test_the_training_command_path_registers_a_light_curve_version_with_its_metrics(tenant_factory):
    tenant, users = tenant_factory(sites=[])
    with tenant_context(tenant):
        model = services.create_task_model(tenant, users["admin"], name="light-curve", task="light_curve")
        version = services.train_version(model, users["admin"], examples=300, epochs=2)
    assert model.architecture == "module:mlmodels.networks.light_curve_gru"
    assert version.config["model_args"]["in_chans"] == 9 and version.config["input_spec"]["size"] == 32
    assert set(version.metrics["per_class"]) == {"sn_ia", "sn_ii", "variable", "agn", "bogus"}
    assert version.training_data["generator"] == "alerts.synthetic"


def test_a_newly_promoted_alert_model_classifies_the_recent_alerts_it_has_not_seen(workers, committed_tenant_factory):
    tenant, users = committed_tenant_factory(sites=[])
    with tenant_context(tenant):
        earlier = ingest_packets(tenant, [make_alert(120 + n).packet for n in range(4)], source=Source.REST).alerts
    wait_published(tenant, [alert.pk for alert in earlier])  # out unclassified: no model served them then
    with tenant_context(tenant):
        model = services.create_task_model(tenant, users["admin"], name="rb", task=MLModel.Task.REAL_BOGUS)
        network = build_network(model.architecture, num_classes=2, in_chans=3)
        version, job = services.promote_version(save_version(model, users["admin"], weights=weights_of(network)),
                                                users["admin"])  # fmt: skip
    job = finished(tenant, job, message="the gpu-batch worker to backfill")
    assert job.status == "succeeded" and job.result["classified"] == 4
    assert "4 alerts of the last 2 days classified" in job.message
    with tenant_context(tenant):
        assert AlertClassification.objects.filter(version=version, alert__in=earlier, refusal="").count() == 4


@pytest.mark.parametrize("task", [MLModel.Task.REAL_BOGUS, MLModel.Task.LIGHT_CURVE])
def test_a_promoted_public_alert_model_catches_up_on_every_observatory_that_runs_it(
    task, workers, committed_tenant_factory
):
    owner, owners = committed_tenant_factory(sites=[])
    other, _ = committed_tenant_factory(sites=[])
    with tenant_context(other):
        theirs = ingest_packets(other, [make_alert(140 + n).packet for n in range(3)], source=Source.REST).alerts
    wait_published(other, [alert.pk for alert in theirs])  # out unclassified: no model served them then
    with tenant_context(owner):
        model = services.create_task_model(owner, owners["admin"], name=f"shared-{task}", task=task,
                                           visibility="public")  # fmt: skip
        network = build_network(model.architecture, num_classes=len(model.class_names),
                                in_chans=len(model.input_spec["bands"]))  # fmt: skip
        version, _ = services.promote_version(save_version(model, owners["admin"], weights=weights_of(network)),
                                              owners["admin"])  # fmt: skip
    try:
        with tenant_context(other):
            eventually(AlertClassification.objects.filter(version=version, alert__in=theirs).count, 120,
                       "the other observatory's alerts to be classified", until=lambda count: count >= 3)  # fmt: skip
            assert AlertClassification.objects.filter(version=version, alert__in=theirs, refusal="").count() == 3
    finally:
        with tenant_context(owner):  # a public model in production would serve every later test's observatory
            registry.archive(version)
