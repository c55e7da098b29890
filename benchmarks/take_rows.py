"""Per-fold row gather of a fit: ``kernels.take_rows`` against numpy's
``X[rows]``, for the shapes a layer gathers (training rows of a K-fold
split, index arrays in increasing order).

Prints, for each shape and dtype, the best-of-N seconds of both and the
ratio numpy / kernel (> 1: the kernel is faster). mlcore's subtasks use the
kernel where it is not slower (see ``mlcore._subtasks._gathered_by_kernel``).

Run: ``python benchmarks/take_rows.py [--repeat N]``.
"""
import argparse
import time

import numpy as np

from mlcore import kernels


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    rng = np.random.RandomState(0)
    print("%-8s %-14s %10s %10s %8s" % ("dtype", "shape", "numpy s",
                                         "kernel s", "ratio"))
    for dtype in (np.float64, np.float32):
        for n, p in ((5000, 1), (5000, 2), (500, 4), (100, 10), (5000, 4),
                     (5000, 16),
                     (20000, 50), (100000, 20), (20000, 500)):
            X = rng.rand(n, p).astype(dtype)
            # training rows of fold 2 of KFold(4): all rows but a block
            rows = np.concatenate([np.arange(0, n // 4),
                                   np.arange(n // 2, n)]).astype(np.int64)
            assert np.array_equal(kernels.take_rows(X, rows), X[rows])
            t_np = best(lambda: X[rows], args.repeat)
            t_k = best(lambda: kernels.take_rows(X, rows), args.repeat)
            print("%-8s %-14s %10.6f %10.6f %8.2f"
                  % (np.dtype(dtype).name, "%dx%d" % (n, p), t_np, t_k,
                     t_np / t_k))
        for n in (1000, 20000, 100000):  # targets
            y = rng.rand(n).astype(dtype)
            rows = np.arange(0, n, 2)
            t_np = best(lambda: y[rows], args.repeat)
            t_k = best(lambda: kernels.take_rows(y, rows), args.repeat)
            print("%-8s %-14s %10.6f %10.6f %8.2f"
                  % (np.dtype(dtype).name, "y %d" % n, t_np, t_k,
                     t_np / t_k))


if __name__ == "__main__":
    main()
