"""Work done on the ``gpu`` workers."""

import statistics
import time

import numpy as np

from portal.progress import finish_job, report_progress


def accelerator_selftest(job, *, worker, size=1024, steps=20):
    """Measure the worker's dense matrix-multiply throughput, reporting each step.

    It answers the first question about a new GPU node — is the worker alive, on which
    device, and how fast — and is the smallest real job that exercises the whole live
    path: queue, worker, progress over the websocket, result on the page.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    flop = 2 * size**3
    rates = []
    for step in range(1, steps + 1):
        started = time.perf_counter()
        a @ b
        rates.append(flop / (time.perf_counter() - started) / 1e9)
        report_progress(job, step, f"step {step}/{steps}: {rates[-1]:.1f} GFLOP/s")
    result = {
        "device": "cpu",
        "backend": f"numpy {np.__version__}",
        "worker": worker,
        "matrix_size": size,
        "median_gflops": round(statistics.median(rates), 2),
        "best_gflops": round(max(rates), 2),
    }
    finish_job(job, result, f"{result['median_gflops']} GFLOP/s median on {result['device']}")
    return result
