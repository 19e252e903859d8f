"""Dense fp32 reference for bench_host_spmm: Y = X @ W.T with numpy (its BLAS) on the
same shapes and token counts, median of repeated calls, warm caches.

    python3 bench/host/dense_blas.py
"""
import time

import numpy as np

SHAPES = [(688, 256), (4096, 4096), (11008, 4096)]


def median_us(fn, budget_s=0.3, at_least=5):
    times, end = [], time.perf_counter() + budget_s
    while len(times) < at_least or time.perf_counter() < end:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2] * 1e6


def main():
    rng = np.random.default_rng(1)
    print(f"numpy {np.__version__}")
    print(f"{'M':>6} {'K':>6} {'N':>4} | {'dense_us':>12}")
    for m, k in SHAPES:
        w = rng.uniform(-1, 1, (m, k)).astype(np.float32)
        for n in (1, 8):
            x = rng.uniform(-1, 1, (n, k)).astype(np.float32)
            print(f"{m:6d} {k:6d} {n:4d} | {median_us(lambda: x @ w.T):12.1f}")


if __name__ == "__main__":
    main()
