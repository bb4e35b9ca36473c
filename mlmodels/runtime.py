"""What a worker needs to run a registered network, whichever app's data it classifies: the
device, the network built and loaded from the registry, one cache of loaded networks per
process, and a forward pass from numpy to probabilities.

Apps above (alerts, labeling) classify their own things through this module and store the
answers in their own tables; the registry's images and frames go through ``inference``.
Only worker code imports it (torch).
"""

import functools
import importlib
from contextlib import contextmanager

import timm
import torch
from torch import nn
from torch.nn import functional
from torch.nn.utils.fusion import fuse_conv_bn_eval

from . import registry
from .models import ModelVersion


def device():
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def build_network(architecture, *, num_classes, in_chans):
    """An untrained network: a timm model by name, or ``module:dotted.path.factory`` for a
    project network (called with the same arguments). Weights come from training or the registry."""
    if architecture.startswith("module:"):
        module_name, _, factory = architecture.removeprefix("module:").rpartition(".")
        return getattr(importlib.import_module(module_name), factory)(num_classes=num_classes, in_chans=in_chans)
    return timm.create_model(architecture, pretrained=False, num_classes=num_classes, in_chans=in_chans)


def registered_network(version):
    """(network, config) of a registered version: built as its config says, with its weights
    (checked against their checksum), not yet on a device."""
    config, weights = registry.load_version(version)
    network = build_network(config["architecture"], num_classes=config["num_classes"],
                            in_chans=len(config["input_spec"]["bands"]))  # fmt: skip
    network.load_state_dict({name: torch.from_numpy(array) for name, array in weights.items()})
    return network, config


def loaded(version, prepare):
    """(``prepare(network, config)``, config) of ``version``, kept for the next batch: one
    cache a process for every caller, keyed by the artifact's checksum too, so a re-registered
    artifact is never served from memory. ``prepare`` (a module-level function) puts the
    network on the device in the form its caller runs."""
    return _loaded(version.pk, version.sha256, prepare)


@functools.lru_cache(maxsize=8)
def _loaded(version_pk, sha256, prepare):
    network, config = registered_network(ModelVersion.objects.get(pk=version_pk))
    return prepare(network.eval(), config), config


def folded(network, config):
    """The same answers, sooner, on this worker's device: each batch norm folded into the
    convolution before it, and weights stored channels-last, which oneDNN's CPU convolutions
    run fastest (the real-bogus CNN goes from ~2.5 to ~1.2 ms an alert on one thread). Only
    for a network in eval mode: folding fixes the running statistics."""
    for sequence in [module for module in network.modules() if isinstance(module, nn.Sequential)]:
        for index in range(len(sequence) - 1):
            convolution, norm = sequence[index], sequence[index + 1]
            if isinstance(convolution, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                sequence[index], sequence[index + 1] = fuse_conv_bn_eval(convolution, norm), nn.Identity()
    return network.to(memory_format=torch.channels_last).to(device())


@contextmanager
def threads(count):
    """torch's CPU threads for one block: small networks on small batches lose more in
    hand-offs between threads than they gain."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def logits_of(model, images, *, batch_size=256):
    """The network's raw outputs for normalised images (numpy in, a CPU tensor out), in eval mode."""
    model.eval()
    target = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            out.append(model(torch.from_numpy(images[start : start + batch_size]).to(target)).float().cpu())
    return torch.cat(out) if out else torch.zeros((0, model.num_classes))


def predict(model, images, *, classes=None, batch_size=256):
    """(class probabilities, flag probabilities) for normalised images, numpy in and out: a
    softmax over the first ``classes`` outputs (default: all), a sigmoid over the rest."""
    logits = logits_of(model, images, batch_size=batch_size)
    probabilities, flags = split_outputs(logits, logits.shape[1] if classes is None else classes)
    return probabilities.numpy(), flags.numpy()


def split_outputs(logits, classes):
    """(class probabilities, flag probabilities): a softmax over the first ``classes`` outputs,
    a sigmoid over the rest (each flag is its own yes/no)."""
    return functional.softmax(logits[:, :classes], dim=1), torch.sigmoid(logits[:, classes:])
