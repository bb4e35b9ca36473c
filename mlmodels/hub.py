"""Models from and to a Hugging Face hub (or a mirror: ``HF_ENDPOINT``).

A registry version already has the hub's layout (``config.json`` + ``model.safetensors``, the
files ``timm.create_model("hf-hub:…")`` reads), so pulling registers a repo's two files as a
model's next version and pushing commits a version's files as they are stored, with a model
card. Both files of a pull come from one commit, resolved first, so a push to the repo halfway
through cannot mix two models' files; the version records that commit.

The hub is the one part of the registry that needs the network. Failing to reach it, a repo
that is not there, or one that does not hold a model in this layout, is a HubError naming the
repo and what to do; a pull that fails registers nothing.
"""

import json
import tempfile
from contextlib import contextmanager
from pathlib import Path

import httpx2
import safetensors.numpy
from django.conf import settings
from django.db import transaction
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import (
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from safetensors import SafetensorError

from . import registry
from .models import Visibility
from .registry import CONFIG_NAME, WEIGHTS_NAME

CARD_NAME = "README.md"


class HubError(registry.RegistryError):
    """A pull or push that could not happen; the message names the repo and the cure."""


def pull_version(model, user, repo_id, revision="main"):
    """Register a hub repo's model at ``revision`` as ``model``'s next version (in staging).

    The repo's network must be the one the model is built as, with the same outputs: weights
    for another head would only fail later, on a worker.
    """
    config, weights, commit = _download(repo_id, revision)
    refusal = _mismatch(model, config)
    if refusal:
        raise HubError(f"{repo_id}@{revision} cannot be a version of {model.name}: {refusal}")
    return registry.save_version(model, user, weights=weights, config=config, hub_repo=repo_id, hub_revision=commit)


def pull_model(tenant, user, *, name, task, repo_id, revision="main", visibility=Visibility.TENANT):
    """Register a new model shaped as the hub repo's config says (network, classes, input)
    with the repo's weights as its first version."""
    config, weights, commit = _download(repo_id, revision)
    if not config.get("architecture"):
        raise HubError(f"{repo_id}: {CONFIG_NAME} names no architecture; a timm model repo's config does")
    with transaction.atomic():
        model = registry.create_model(
            tenant, user, name=name, task=task, architecture=config["architecture"],
            class_names=config.get("label_names") or [], flag_names=config.get("flag_names") or [],
            input_spec=config.get("input_spec") or _input_spec(config), visibility=visibility,
            description=f"Pulled from the Hugging Face hub: {repo_id}",
        )  # fmt: skip
        refusal = _mismatch(model, config)
        if refusal:
            raise HubError(f"{repo_id}: {refusal}")
        return registry.save_version(model, user, weights=weights, config=config, hub_repo=repo_id,
                                     hub_revision=commit)  # fmt: skip


def push_version(version, repo_id, *, private=True):
    """Commit a version's artifact (checked against its checksum first) and a model card to
    ``repo_id``, creating the repo (private unless asked) when it is not there; the version
    then records the repo and the commit."""
    config, blob = registry.read_artifact(version)
    with _talking_to_hub(repo_id, "main"):
        api = _api()
        api.create_repo(repo_id, private=private, exist_ok=True)
        commit = api.create_commit(
            repo_id,
            operations=[CommitOperationAdd(CONFIG_NAME, config), CommitOperationAdd(WEIGHTS_NAME, blob),
                        CommitOperationAdd(CARD_NAME, model_card(version, repo_id).encode())],
            commit_message=f"{version.model.name} v{version.number} from Arrayscope",
        )  # fmt: skip
    version.hub_repo, version.hub_revision = repo_id, commit.oid
    version.save(update_fields=["hub_repo", "hub_revision"])
    return version


def model_card(version, repo_id):
    """The repo's README: metadata the hub indexes, then what the model does and how it did."""
    model, metrics = version.model, version.metrics
    lines = [
        "---", "library_name: timm", "pipeline_tag: image-classification", "tags:", "- astronomy", "- arrayscope",
        f"- {model.task}", "---", "", f"# {model.name} v{version.number}", "",
        model.description or f"A {model.get_task_display().lower()} model trained in Arrayscope.", "",
        f"- architecture: `{model.architecture}`", f"- classes: {', '.join(model.class_names) or 'none'}",
        f"- input: {json.dumps(model.input_spec)}", f"- weights SHA-256: `{version.sha256}`",
    ]  # fmt: skip
    if model.flag_names:
        lines.append(f"- flags: {', '.join(model.flag_names)}")
    if "accuracy" in metrics:
        lines.append(f"- held-out accuracy: {metrics['accuracy']:.3f} on {metrics.get('test_examples', '?')} examples")
    for name, scores in (metrics.get("per_class") or {}).items():
        lines.append(f"  - {name}: precision {scores['precision']:.3f}, recall {scores['recall']:.3f}")
    if version.training_data.get("generator"):
        lines.append(f"- trained on: {version.training_data['generator']} (seed {version.training_data.get('seed')})")
    # Text of the card, for people who fetch the repo themselves; nothing here runs it.
    usage = f'model = timm.create_model("hf-hub:{repo_id}", pretrained=True)'
    lines += ["", "```python", "import timm", usage, "```", ""]
    return "\n".join(lines)


def _api():
    return HfApi(endpoint=settings.HF_ENDPOINT, token=settings.HF_TOKEN or None)


def _download(repo_id, revision):
    """(config, weights, commit) of a repo at a revision: config.json first, which resolves
    the commit; the weights then at that commit."""
    with tempfile.TemporaryDirectory() as cache, _talking_to_hub(repo_id, revision):
        api = _api()
        config_path = Path(api.hf_hub_download(repo_id, CONFIG_NAME, revision=revision, cache_dir=cache))
        commit = config_path.parent.name  # the hub cache keeps a commit's files in snapshots/<commit>/
        weights_path = api.hf_hub_download(repo_id, WEIGHTS_NAME, revision=commit, cache_dir=cache)
        try:
            config = json.loads(config_path.read_bytes())
        except ValueError as error:
            raise HubError(f"{repo_id}@{commit[:12]}: {CONFIG_NAME} is not JSON ({error})") from error
        try:
            weights = safetensors.numpy.load(Path(weights_path).read_bytes())
        except (SafetensorError, TypeError, ValueError) as error:
            raise HubError(f"{repo_id}@{commit[:12]}: {WEIGHTS_NAME} cannot be read as safetensors "
                           f"({error})") from error  # fmt: skip
    if not isinstance(config, dict):
        raise HubError(f"{repo_id}@{commit[:12]}: {CONFIG_NAME} is not an object")
    return config, weights, commit


def _mismatch(model, config):
    """Why a repo's config does not fit ``model``, or None."""
    outputs = len(model.class_names) + len(model.flag_names)
    if config.get("architecture") != model.architecture:
        return f"the repo holds a {config.get('architecture') or 'unnamed'} network, the model is {model.architecture}"
    if config.get("num_classes") != outputs:
        return f"the repo's network has {config.get('num_classes')} outputs, the model needs {outputs}"
    if config.get("label_names") and list(config["label_names"]) != list(model.class_names):
        theirs, ours = ", ".join(config["label_names"]), ", ".join(model.class_names)
        return f"the repo predicts {theirs}; the model predicts {ours}"
    return None


def _input_spec(config):
    """An input spec from timm's pretrained_cfg, for repos made outside Arrayscope."""
    bands, height, _ = (config.get("pretrained_cfg") or {}).get("input_size", (3, 224, 224))
    return {"size": height, "bands": [f"channel{index}" for index in range(bands)]}


@contextmanager
def _talking_to_hub(repo_id, revision):
    """Turn the hub client's failures into a HubError a person can act on."""
    endpoint = settings.HF_ENDPOINT
    try:
        yield
    except HFValidationError as error:
        raise HubError(f"{repo_id!r} is not a hub repo id (owner/name): {error}") from error
    except RepositoryNotFoundError as error:
        raise HubError(f"{endpoint} has no model repo {repo_id}, or it is private and HF_TOKEN cannot "
                       "see it") from error  # fmt: skip
    except RevisionNotFoundError as error:
        raise HubError(f"{repo_id} has no branch, tag or commit {revision!r}") from error
    except RemoteEntryNotFoundError as error:
        raise HubError(f"{repo_id}@{revision} lacks a file a model needs: it must hold {CONFIG_NAME} and "
                       f"{WEIGHTS_NAME} (timm's hub layout)") from error  # fmt: skip
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, httpx2.TransportError) as error:
        reason = error.__cause__ or error
        raise HubError(f"cannot reach the Hugging Face hub at {endpoint} ({type(reason).__name__}: {reason}); pulling "
                       "and pushing models needs it, everything else works offline (HF_ENDPOINT names a mirror)"
                       ) from error  # fmt: skip
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else "no answer"
        if status in (401, 403):
            raise HubError(f"the hub refused access to {repo_id} ({status}): set HF_TOKEN to a token that may "
                           "write there") from error  # fmt: skip
        raise HubError(f"the hub answered {status} for {repo_id}: {error}") from error
