#!/usr/bin/env python3
"""The BLAS yardstick for `cargo bench --bench vector -- scan`: numpy's
matrix-vector product over the same shapes (5,000 and 50,000 x 1536 f32,
normalised rows), single thread, median of repeated runs, plus top-10 selection.

    python3 benches/numpy_scan.py        (needs numpy and threadpoolctl)

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are cleared for this process only (they
select a slower kernel on this machine kind); the kernel in use is printed.
"""
import os
import sys

for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    if var in os.environ:
        del os.environ[var]
        os.execv(sys.executable, [sys.executable] + sys.argv)

import time  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402


def median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def main():
    rng = np.random.default_rng(7)
    with threadpool_limits(1):
        info = [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}" for i in threadpool_info()]
        print("BLAS:", "; ".join(info))
        for n in (5_000, 50_000):
            m = rng.standard_normal((n, 1536), dtype=np.float32)
            m /= np.linalg.norm(m, axis=1, keepdims=True)
            q = m[0].copy()
            gemv = median_time(lambda: m @ q, 50 if n == 5_000 else 15)
            topk = median_time(lambda: np.argpartition(-(m @ q), 10)[:10], 50 if n == 5_000 else 15)
            gib = n * 1536 * 4 / gemv / 2**30
            print(f"numpy gemv {n}x1536: {gemv * 1e3:.3f} ms ({gib:.1f} GiB/s); gemv + top-10: {topk * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
