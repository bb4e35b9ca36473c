"""Pulling models from and pushing them to a Hugging Face hub, through the real client, against
a hub served on localhost (``hub_server``); and what a person reads when the hub says no."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import safetensors.numpy
from django.core.management import call_command

from mlmodels import hub
from mlmodels.models import ModelVersion
from mlmodels.registry import CONFIG_NAME, WEIGHTS_NAME, load_version, read_artifact
from portal.tenancy import tenant_context

from .conftest import register_untrained
from .hub_server import LocalHub

TOKEN = "hf_test_token"
REPO = "arrayscope/galaxy-morphology"


@pytest.fixture
def local_hub(settings):
    served = LocalHub(TOKEN)
    settings.HF_ENDPOINT, settings.HF_TOKEN = served.url, TOKEN
    yield served
    served.stop()


@pytest.fixture
def pushed(local_hub, tenant_factory):
    """A trained-shape morphology version pushed to the local hub."""
    tenant, users = tenant_factory(sites=[])
    with tenant_context(tenant):
        version = register_untrained(tenant, users["admin"])
        yield tenant, users["admin"], hub.push_version(version, REPO)


def test_a_pushed_version_is_on_the_hub_as_stored_with_a_model_card_and_records_its_commit(local_hub, pushed):
    _, _, version = pushed
    oid, files = local_hub.files(REPO)
    config, blob = read_artifact(version)
    assert (files[CONFIG_NAME], files[WEIGHTS_NAME]) == (config, blob), "the hub holds the artifact byte for byte"
    assert (version.hub_repo, version.hub_revision) == (REPO, oid)
    card = files[hub.CARD_NAME].decode()
    assert card.startswith("---\nlibrary_name: timm") and f'"hf-hub:{REPO}"' in card and version.sha256 in card


def test_timm_builds_the_network_from_the_pushed_repo_alone(local_hub, pushed, tmp_path):
    """What a partner does with a pushed model: timm.create_model("hf-hub:…") and nothing else."""
    _, _, version = pushed
    _, weights = load_version(version)
    script = (
        "import json, timm\n"
        f"network = timm.create_model('hf-hub:{REPO}', pretrained=True)\n"
        "tensors = [t for t in network.state_dict().values() if t.is_floating_point()]\n"
        "print(json.dumps({'labels': network.pretrained_cfg['label_names'],"
        " 'total': float(sum(t.double().abs().sum() for t in tensors))}))"
    )  # fmt: skip
    environment = {**os.environ, "HF_ENDPOINT": local_hub.url, "HF_HUB_CACHE": str(tmp_path), "HF_TOKEN": TOKEN}
    run = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    loaded = json.loads(run.stdout.strip().splitlines()[-1])
    assert loaded["labels"] == version.model.class_names
    expected = sum(float(np.abs(array.astype(np.float64)).sum()) for array in weights.values()
                   if array.dtype.kind == "f")  # fmt: skip
    assert loaded["total"] == pytest.approx(expected, rel=1e-6), "timm loaded the pushed weights, not fresh ones"


def test_a_pull_pinned_to_a_commit_gets_that_commits_weights_and_records_it(local_hub, pushed):
    tenant, user, first = pushed
    first_commit = first.hub_revision
    changed = {name: array + 1 for name, array in load_version(first)[1].items()}
    local_hub.put(REPO, {WEIGHTS_NAME: safetensors.numpy.save(changed)})
    with tenant_context(tenant):
        pinned = hub.pull_version(first.model, user, REPO, revision=first_commit)
        newest = hub.pull_version(first.model, user, REPO)
    assert (pinned.number, pinned.stage, pinned.hub_revision) == (2, "staging", first_commit)
    assert newest.hub_revision == local_hub.files(REPO)[0] != first_commit
    for name, array in load_version(first)[1].items():
        np.testing.assert_array_equal(load_version(pinned)[1][name], array)
        np.testing.assert_array_equal(load_version(newest)[1][name], array + 1)


@pytest.mark.parametrize("broken, expected", [
    ({CONFIG_NAME: json.dumps({"architecture": "resnet18", "num_classes": 6}).encode()},
     "the repo holds a resnet18 network, the model is convnext_atto"),
    ({CONFIG_NAME: b"{not json"}, "config.json is not JSON"),
    ({WEIGHTS_NAME: b"\x08\x00\x00\x00\x00\x00\x00\x00garbage!"}, "model.safetensors cannot be read as safetensors"),
])  # fmt: skip
def test_a_repo_that_does_not_fit_the_model_is_refused_and_registers_nothing(local_hub, pushed, broken, expected):
    tenant, user, version = pushed
    local_hub.put(REPO, broken)
    with tenant_context(tenant), pytest.raises(hub.HubError, match=expected):
        hub.pull_version(version.model, user, REPO)
    assert list(version.model.versions.values_list("number", flat=True)) == [1]


@pytest.mark.parametrize("repo, revision, expected", [
    ("arrayscope/nothing-here", "main", "has no model repo arrayscope/nothing-here"),
    (REPO, "v9", "has no branch, tag or commit 'v9'"),
    ("not a repo id", "main", "is not a hub repo id"),
])  # fmt: skip
def test_a_missing_repo_or_revision_is_named(local_hub, pushed, repo, revision, expected):
    tenant, user, version = pushed
    with tenant_context(tenant), pytest.raises(hub.HubError, match=expected):
        hub.pull_version(version.model, user, repo, revision=revision)


def test_a_repo_without_weights_says_what_a_model_repo_holds(local_hub, pushed):
    tenant, user, version = pushed
    local_hub.put("arrayscope/config-only", {CONFIG_NAME: local_hub.files(REPO)[1][CONFIG_NAME]})
    with tenant_context(tenant), pytest.raises(hub.HubError, match="must hold config.json and model.safetensors"):
        hub.pull_version(version.model, user, "arrayscope/config-only")


def test_an_unreachable_hub_is_a_clear_error_not_a_traceback(settings, tenant_factory):
    settings.HF_ENDPOINT = "http://127.0.0.1:9"  # discard port: nothing listens
    tenant, users = tenant_factory(sites=[])
    with tenant_context(tenant):
        version = register_untrained(tenant, users["admin"])
        with pytest.raises(hub.HubError, match=r"cannot reach the Hugging Face hub at http://127.0.0.1:9"):
            hub.pull_version(version.model, users["admin"], REPO)
        with pytest.raises(hub.HubError, match=r"cannot reach the Hugging Face hub"):
            hub.push_version(version, REPO)
        assert ModelVersion.objects.get(pk=version.pk).hub_repo == ""


def test_a_push_without_a_token_that_may_write_is_refused(local_hub, settings, tenant_factory):
    settings.HF_TOKEN = "hf_wrong"
    tenant, users = tenant_factory(sites=[])
    with tenant_context(tenant):
        version = register_untrained(tenant, users["admin"])
        with pytest.raises(hub.HubError, match="HF_TOKEN"):
            hub.push_version(version, REPO)
    assert REPO not in local_hub.repos


def test_the_pull_command_registers_a_new_model_shaped_by_the_repo(local_hub, pushed, capsys):
    tenant, _, version = pushed
    call_command("pull_model", tenant.slug, "morphology-from-hub", REPO, "--task", "morphology")
    with tenant_context(tenant):
        model = type(version.model).objects.get(tenant=tenant, name="morphology-from-hub")
        pulled = model.versions.get()
    assert (model.architecture, model.class_names, model.input_spec) == (
        "convnext_atto", version.model.class_names, version.model.input_spec)  # fmt: skip
    assert pulled.hub_revision == version.hub_revision
    assert f"{REPO}@{version.hub_revision[:12]}" in capsys.readouterr().out


def test_admin_pulls_and_pushes_from_the_model_page(client, local_hub, pushed):
    tenant, admin, version = pushed
    client.force_login(admin)
    page = client.get(f"/t/{tenant.slug}/models/{version.model.pk}/")
    assert 'name="repo_id"' in page.text and "Push v1 to the hub" in page.text
    pull = f"/t/{tenant.slug}/models/{version.model.pk}/pull/"
    response = client.post(pull, {"repo_id": REPO, "revision": "main"})
    assert response.status_code == 302 and response["Location"].endswith(f"/models/{version.model.pk}/v2/")
    refused = client.post(pull, {"repo_id": "arrayscope/none", "revision": "main"}, follow=True)
    assert "has no model repo arrayscope/none" in refused.text
    response = client.post(f"/t/{tenant.slug}/models/{version.model.pk}/v2/push/", {"repo_id": "arrayscope/copy"})
    assert response.status_code == 302 and "arrayscope/copy" in local_hub.repos
