"""Inference throughput: the production path (storage read, FITS parsing, preprocessing,
forward pass, predictions and embeddings written to the database) vs the bare forward pass
of the same network on in-memory tensors, same batch size, same run.

Stores 2,048 synthetic g/r/z galaxies (64 px, as the demo's morphology model sees them;
``--size`` for others) as target images in a fresh embedded portal, registers a convnext_atto
version (``--architecture``; its speed does not depend on what it learnt), then times
the backfill's path — ``mlmodels.inference.classify`` over all of them, then the version's
HNSW index built over their embeddings — and the network alone over the same images already
prepared in memory. Each is run twice after a warm-up; the better pass counts.
Runs on CUDA when there is one (bf16, compiled), else on the CPU.

    python benchmarks/inference.py [--quick] [--size 128] [--architecture convnext_nano]
"""

import argparse
import json
import time

import numpy as np
from embedded_portal import embedded_portal, machine


def run(count, *, size, architecture, passes=2):
    import torch
    from django.conf import settings

    from mlmodels import registry
    from mlmodels.inference import classify, forward, prepare, runner_for
    from mlmodels.models import Prediction
    from mlmodels.runtime import build_network, device
    from mlmodels.similarity import index_embeddings
    from mlmodels.subjects import TargetImages
    from mlmodels.synthetic_galaxies import KINDS, make_galaxies
    from mlmodels.training import weights_of
    from observations.fits import read_cube
    from observations.images import add_target_images
    from observations.models import Target, TargetImage
    from portal.models import Tenant
    from portal.tenancy import tenant_context

    tenant = Tenant.objects.create(slug="bench", name="Benchmark")
    spec = {"size": size, "bands": ["g", "r", "z"], "normalisation": "asinh-noise"}
    with tenant_context(tenant):
        model = registry.create_model(tenant, None, name="morphology", task="morphology", architecture=architecture,
                                      class_names=KINDS, input_spec=spec)  # fmt: skip
        network = build_network(architecture, num_classes=len(KINDS), in_chans=3)
        # One version per pass, each starting as a promoted version does: no answers, no index yet.
        versions = [registry.save_version(model, None, weights=weights_of(network)) for _ in range(passes)]
        galaxies = make_galaxies(count, seed=11, size=size)
        targets = Target.objects.bulk_create(
            Target(tenant=tenant, name=f"G{n}", ra_deg=n * 0.01, dec_deg=0, kind="galaxy", healpix=0)
            for n in range(count)
        )
        data = [galaxy.fits_bytes() for galaxy in galaxies]
        images = add_target_images(tenant, [(t, blob, "benchmark") for t, blob in zip(targets, data)])
        ids = [image.pk for image in images]
        runner, _ = runner_for(versions[0])
        batch = settings.INFERENCE_BATCH_SIZE
        prepared = np.stack([prepare(*read_cube(blob)[:2], spec) for blob in data])
        forward(runner, prepared[:batch])  # warm-up: threads, allocator, compilation on CUDA
        bare, full = [], []
        for version in versions:
            started = time.perf_counter()
            for start in range(0, count, batch):
                forward(runner, prepared[start : start + batch])
            if device().type == "cuda":
                torch.cuda.synchronize()
            bare.append(count / (time.perf_counter() - started))

            chosen = TargetImage.objects.filter(pk__in=ids).select_related("target").order_by("pk")
            runner_for(version)  # loading the weights is once per worker, not per image
            started = time.perf_counter()
            classified = classify(version, TargetImages(), chosen, index=False)  # as the backfill does …
            index_embeddings(version)  # … then the similarity index, in bulk
            full.append(count / (time.perf_counter() - started))
            assert classified == count and Prediction.objects.filter(version=version).count() == count
    figures = {"images": count, "size_px": size, "architecture": architecture, "batch_size": batch,
               "device": str(device()), "torch_threads": torch.get_num_threads(),
               "full_path_images_per_s": round(max(full), 1),
               "full_path_passes": [round(f, 1) for f in full]}  # fmt: skip
    baseline = {"bare_forward_images_per_s": round(max(bare), 1), "bare_forward_passes": [round(b, 1) for b in bare]}
    return figures, baseline


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 images")
    parser.add_argument("--size", type=int, default=64, help="galaxy cutout and network input size, px")
    parser.add_argument("--architecture", default="convnext_atto", help="timm architecture")
    args = parser.parse_args()
    with embedded_portal("arrayscope-inference-"):
        figures, baseline = run(256 if args.quick else 2048, size=args.size, architecture=args.architecture)
    ratio = {"full_path_over_bare_forward": round(figures["full_path_images_per_s"]
                                                  / baseline["bare_forward_images_per_s"], 3)}  # fmt: skip
    print(json.dumps({"benchmark": "inference", "machine": machine(), "figures": figures, "baseline": baseline,
                      "ratio": ratio}))  # fmt: skip


if __name__ == "__main__":
    main()
