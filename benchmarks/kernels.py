"""Benchmark of mlcore's data-movement kernels against the mlens expressions.

Run from the repository root::

    python benchmarks/kernels.py            # n in {1e5, 1e6}, p in {10, 100}
    python benchmarks/kernels.py --quick    # n in {1e4, 1e5}

Every comparison runs interleaved rounds (baseline, mlcore, copy, then the
next round in rotated order) and reports medians, so that both sides see the
same load on a shared machine. ``ratio`` is baseline / mlcore (higher is
better for mlcore). ``GB/s`` counts the useful bytes mlcore moves (bytes of
the result written plus the same amount read); ``copy`` is a plain
``np.copyto`` of that many bytes between two preallocated buffers, measured
in the same rounds, and ``%copy`` relates the two.

At the end, :func:`bench_map_overhead` times the backend's per-call ``map``
overhead (skipped if the backend cannot be imported).
"""
import argparse
import gc
import sys
import time

import numpy as np
import scipy.sparse as sp

from mlcore import kernels as K

RESULTS = []


def interleaved(fns, rounds):
    """Median seconds of each callable over interleaved, rotated rounds.

    One untimed warm-up call each first; comparisons whose calls all take
    under 20 ms get more rounds (up to 31), since short calls are the most
    exposed to a noisy neighbour.
    """
    names = list(fns)
    slowest = 0.0
    for name in names:
        t0 = time.perf_counter()
        fns[name]()
        slowest = max(slowest, time.perf_counter() - t0)
    if slowest < 0.02:
        rounds = max(rounds, 31)
    times = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(v)) for name, v in times.items()}


def copy_fn(nbytes):
    """A np.copyto of nbytes between two warm, preallocated buffers."""
    n = max(int(nbytes) // 8, 1)
    src = np.random.default_rng(0).standard_normal(n)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    return lambda: np.copyto(dst, src)


def record(op, n, p, baseline, t_base, t_mine, target, moved, t_copy,
           note=""):
    ratio = t_base / t_mine if t_mine > 0 else float("inf")
    gbs = 2 * moved / t_mine / 1e9 if moved else float("nan")
    cgbs = 2 * moved / t_copy / 1e9 if moved else float("nan")
    row = dict(op=op, n=n, p=p, baseline=baseline, t_base=t_base * 1e3,
               t_mine=t_mine * 1e3, ratio=ratio, target=target,
               ok=None if target is None else ratio >= target,
               gbs=gbs, cgbs=cgbs, note=note)
    RESULTS.append(row)
    print_row(row)
    sys.stdout.flush()


HEADER = ("%-22s %-9s %4s  %-26s %10s %10s %7s %7s %5s %7s %7s %6s"
          % ("op", "n", "p", "baseline", "base ms", "mlcore ms", "ratio",
             "target", "", "GB/s", "copy", "%copy"))


def print_row(row):
    if row["ok"] is None:
        mark, target = "", "-"
    else:
        mark = "ok" if row["ok"] else "MISS"
        target = ">=%g" % row["target"]
    print("%-22s %-9s %4d  %-26s %10.2f %10.2f %6.2fx %7s %5s %7.1f %7.1f %5.0f%%%s"
          % (row["op"], "%.0e" % row["n"], row["p"], row["baseline"],
             row["t_base"], row["t_mine"], row["ratio"], target, mark,
             row["gbs"], row["cgbs"], 100 * row["gbs"] / row["cgbs"],
             ("  " + row["note"]) if row["note"] else ""))


###############################################################################
# The comparisons

def bench_propagation(n, p, rounds, rng):
    """Dense feature propagation, k = p / 2 sorted random columns."""
    k = p // 2
    r = n // 10
    P_in = rng.standard_normal((n, p))
    P_out = np.zeros((n - r, p))
    cols = np.sort(rng.choice(p, k, replace=False))
    moved = (n - r) * k * 8

    def base():
        P_out[:, :k] = P_in[r:, cols]

    def mine():
        K.propagate_features(P_in, cols, r, P_out)

    t = interleaved({"base": base, "mine": mine, "copy": copy_fn(moved)},
                    rounds)
    # The brief's target is stated for n = 1e6, p = 100, k = 50; other sizes
    # are shown without one.
    target = 5.0 if (n, p) == (10 ** 6, 100) else None
    record("propagate (dense)", n, p, "P_out[:,:k] = P_in[r:,cols]",
           t["base"], t["mine"], target, moved, t["copy"])


def _sparse_moved(M):
    return M.data.nbytes + M.indices.nbytes + M.indptr.nbytes


def bench_sparse(n, p, rounds, rng, dense_out, lil_limit):
    """Sparse feature propagation, P_in CSR with density 0.1, k = p / 2.

    P_out is either a CSR matrix of density 0.1 or, as in mlens (whose
    prediction arrays are np.empty), a dense array of predictions.
    """
    k = p // 2
    r = n // 10
    P_in = sp.random(n, p, density=0.1, format="csr", random_state=rng,
                     dtype=np.float64)
    if dense_out:
        P_out = rng.standard_normal((n - r, p))
        label = "sparse, dense P_out"
    else:
        P_out = sp.random(n - r, p, density=0.1, format="csr",
                          random_state=rng, dtype=np.float64)
        label = "sparse, CSR P_out"
    cols = np.sort(rng.choice(p, k, replace=False))

    def mine():
        return K.propagate_features_sparse(P_in, cols, r, P_out)

    def csr():
        return sp.hstack([P_in[r:, cols], P_out[:, k:]], format="csr")

    def lil():
        return sp.hstack([P_in[r:, cols], P_out[:, k:]]).tolil()

    out = mine()
    moved = _sparse_moved(out)
    del out
    t = interleaved({"base": csr, "mine": mine, "copy": copy_fn(moved)},
                    rounds)
    record(label, n, p, "hstack(format='csr')", t["base"], t["mine"], 2.0,
           moved, t["copy"])
    if n * p <= lil_limit:
        lil_rounds = max(3, rounds // 3) if n * p >= 10 ** 7 else rounds
        t = interleaved({"base": lil, "mine": mine, "copy": copy_fn(moved)},
                        lil_rounds)
        record(label, n, p, "hstack(...).tolil()", t["base"], t["mine"],
               15.0, moved, t["copy"])
    else:
        print("%-22s %-9s %4d  %-26s skipped: tolil() takes seconds and GBs "
              "of Python objects at this size" % (label, "%.0e" % n, p,
                                                 "hstack(...).tolil()"))


def bench_shuffle(n, p, rounds, rng):
    X = rng.standard_normal((n, p))
    y = rng.standard_normal(n)
    moved = X.nbytes + y.nbytes
    seed = 12

    def base():
        idx = np.random.RandomState(seed).permutation(n)
        return X[idx], y[idx]

    def mine():
        return K.shuffle_rows(X, y, seed)

    t = interleaved({"base": base, "mine": mine, "copy": copy_fn(moved)},
                    rounds)
    record("shuffle (X, y)", n, p, "perm + X[idx], y[idx]", t["base"],
           t["mine"], 2.0, moved, t["copy"])


def bench_take(n, p, rounds, rng):
    X = rng.standard_normal((n, p))
    idx = rng.permutation(n)
    buf1 = np.empty_like(X)
    buf2 = np.empty_like(X)

    def base():
        np.take(X, idx, axis=0, out=buf1, mode="clip")

    def mine():
        K.take_rows(X, idx, out=buf2)

    t = interleaved({"base": base, "mine": mine,
                     "copy": copy_fn(X.nbytes)}, rounds)
    record("take_rows (out=)", n, p, "np.take(out=, mode='clip')",
           t["base"], t["mine"], 1.0, X.nbytes, t["copy"])


###############################################################################
# Backend per-call overhead

def bench_map_overhead(calls=200):
    """Median wall time of ``ParallelProcessing('threading', 1).map([task],
    'fit', X, y)`` for a task that does nothing, in ms (target <= 1 ms)."""
    try:
        from mlcore import ParallelProcessing
    except ImportError as exc:
        print("map overhead: skipped, the backend does not import (%s)" % exc)
        return None

    class NoopTask(object):
        name = "t"
        __no_output__ = True
        calls = 0

        def setup(self, X, y, job):
            pass

        def shape(self, job):
            return (X.shape[0], 1)

        def __call__(self, args, parallel=None):
            NoopTask.calls += 1

    X = np.zeros((100, 4))
    y = np.zeros(100)
    task = NoopTask()
    for _ in range(5):  # warm up imports and pools
        ParallelProcessing("threading", 1).map([task], "fit", X, y)
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        ParallelProcessing("threading", 1).map([task], "fit", X, y)
        times.append(time.perf_counter() - t0)
    ms = float(np.median(times)) * 1e3
    if NoopTask.calls != calls + 5:
        print("map overhead: INVALID, the task ran %d times in %d calls"
              % (NoopTask.calls, calls + 5))
        return None
    print("map overhead: ParallelProcessing('threading', 1).map([noop], 'fit', "
          "X, y): median %.3f ms over %d calls (p90 %.3f ms), target <= 1 ms: "
          "%s" % (ms, calls, np.percentile(times, 90) * 1e3,
                  "ok" if ms <= 1.0 else "MISS"))
    return ms


###############################################################################

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes (n in {1e4, 1e5}) and fewer rounds")
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved rounds per comparison")
    args = parser.parse_args(argv)
    sizes = [10 ** 4, 10 ** 5] if args.quick else [10 ** 5, 10 ** 6]
    rounds = args.rounds or (7 if args.quick else 9)
    # tolil() is a per-row Python loop: run it up to 1e7 cells only.
    lil_limit = 10 ** 7

    import scipy
    print("mlcore kernel benchmark: numpy %s, scipy %s, %s mode, %d rounds, "
          "medians; ratio = baseline / mlcore"
          % (np.__version__, scipy.__version__,
             "quick" if args.quick else "full", rounds))
    print(HEADER)
    print("-" * len(HEADER))
    rng = np.random.default_rng(0)
    for n in sizes:
        for p in (10, 100):
            for bench in (bench_propagation, bench_shuffle, bench_take):
                bench(n, p, rounds, rng)
                gc.collect()
            for dense_out in (True, False):
                bench_sparse(n, p, rounds, rng, dense_out, lil_limit)
                gc.collect()
    print()
    misses = [r for r in RESULTS if r["ok"] is False]
    print("%d comparisons with a target, %d missed"
          % (sum(r["ok"] is not None for r in RESULTS), len(misses)))
    for r in misses:
        print("  MISS: %s n=%.0e p=%d vs %s: %.2fx (target %g)"
              % (r["op"], r["n"], r["p"], r["baseline"], r["ratio"],
                 r["target"]))
    print()
    bench_map_overhead()


if __name__ == "__main__":
    main()
