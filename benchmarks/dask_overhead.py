"""Overhead of mlcore's dask path: workload W1 on a dask LocalCluster vs the
threading backend, on this machine.

W1 (see the anchors: many cheap learners): make_classification(120_000, 50,
n_informative=10, n_redundant=0), the last 20_000 rows held out; 8 base
learners (LogisticRegression, GaussianNB, RidgeClassifier, DecisionTree
(max_depth=6), ExtraTrees(20, max_depth=8, n_jobs=1), SGDClassifier, LDA,
QDA; RidgeClassifier and hinge SGD wrapped in a sigmoid of
decision_function), class probabilities as meta features, LogisticRegression
meta, 5 folds. ``--scale`` shrinks the rows (0.25: 30_000 rows, 5_000 held
out); the printout says which scale ran.

Both engines get the same 2 workers: threading ``n_jobs=2`` in this process
(BLAS limited to one thread per worker by the layer), dask a
``LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
host='127.0.0.1', dashboard_address=None)`` (one BLAS thread per worker).
Cluster start-up is timed separately and not part of the fit. Runs are
interleaved (threading, dask, threading, ...); the table shows the median
over ``--repeats`` of fit and of predict (held-out rows), and the ratio
dask / threading. The predictions of both engines are checked to be equal.

    python benchmarks/dask_overhead.py                # full W1, 3 repeats
    python benchmarks/dask_overhead.py --scale 0.25 --repeats 3
    python benchmarks/dask_overhead.py --quick        # scale 0.05, 1 repeat
"""
import argparse
import json
import os
import statistics
import sys
import time
import warnings

import numpy as np

try:
    from sklearn.datasets import make_classification
    from sklearn.discriminant_analysis import (
        LinearDiscriminantAnalysis, QuadraticDiscriminantAnalysis)
    from sklearn.ensemble import ExtraTreesClassifier
    from sklearn.linear_model import (LogisticRegression, RidgeClassifier,
                                      SGDClassifier)
    from sklearn.naive_bayes import GaussianNB
    from sklearn.tree import DecisionTreeClassifier
except ImportError:  # pragma: no cover
    sys.exit("benchmarks/dask_overhead.py needs scikit-learn")

try:
    from distributed import Client, LocalCluster
except ImportError:  # pragma: no cover
    sys.exit("benchmarks/dask_overhead.py needs dask.distributed: "
             "pip install 'mlcore[dask]'")

from mlcore.ensemble import SuperLearner

N_FOLDS = 5


# the same sigmoid wrapper as the ensemble benchmark (this directory is
# sys.path[0] when the script runs)
from ensembles import SigmoidProba  # noqa: E402


def w1_data(scale):
    n, n_test = int(round(120_000 * scale)), int(round(20_000 * scale))
    X, y = make_classification(n, 50, n_informative=10, n_redundant=0,
                               random_state=0)
    return X[:-n_test], y[:-n_test], X[-n_test:], y[-n_test:]


def w1_ensemble(backend):
    learners = [
        ("lr", LogisticRegression(max_iter=200)),
        ("gnb", GaussianNB()),
        ("ridge", SigmoidProba(RidgeClassifier())),
        ("tree", DecisionTreeClassifier(max_depth=6, random_state=0)),
        ("et", ExtraTreesClassifier(20, max_depth=8, n_jobs=1,
                                    random_state=0)),
        ("sgd", SigmoidProba(SGDClassifier(random_state=0))),
        ("lda", LinearDiscriminantAnalysis()),
        ("qda", QuadraticDiscriminantAnalysis()),
    ]
    ens = SuperLearner(folds=N_FOLDS, random_state=0, backend=backend,
                       n_jobs=2)
    ens.add(learners, proba=True)
    ens.add_meta(LogisticRegression())
    return ens


def run_once(backend, data):
    X, y, X_test, _ = data
    ens = w1_ensemble(backend)
    t0 = time.perf_counter()
    ens.fit(X, y)
    t1 = time.perf_counter()
    P = ens.predict_proba(X_test)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, P


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0,
                    help="fraction of W1's rows (default 1.0)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true",
                    help="--scale 0.05 --repeats 1")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)
    if args.quick:
        args.scale, args.repeats = 0.05, 1
    warnings.filterwarnings("ignore")  # QDA collinearity, lbfgs iterations
    data = w1_data(args.scale)
    print("W1 at scale %g: %d x %d training rows, %d held out; 8 learners x "
          "%d folds + meta; 2 workers; %d cores here"
          % (args.scale, data[0].shape[0], data[0].shape[1],
             data[2].shape[0], N_FOLDS, len(os.sched_getaffinity(0))),
          flush=True)
    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None,
                           silence_logs=40)
    client = Client(cluster)
    startup = time.perf_counter() - t0
    times = {"threading": [], "dask": []}
    try:
        run_once("dask", w1_data(0.01))  # warm the workers' imports
        preds = {}
        for r in range(args.repeats):
            for backend in ("threading", "dask"):
                fit, predict, P = run_once(backend, data)
                times[backend].append((fit, predict))
                preds[backend] = P
                print("  run %d %-9s fit %7.2f s  predict %6.2f s"
                      % (r + 1, backend, fit, predict), flush=True)
        same = np.array_equal(preds["threading"], preds["dask"])
        diff = float(np.max(np.abs(preds["threading"] - preds["dask"])))
    finally:
        client.close()
        cluster.close()
    med = {b: (statistics.median(f for f, _ in t),
               statistics.median(p for _, p in t)) for b, t in times.items()}
    print()
    print("%-10s %10s %10s %10s" % ("backend", "fit s", "predict s",
                                    "total s"))
    for b in ("threading", "dask"):
        print("%-10s %10.2f %10.2f %10.2f" % (b, med[b][0], med[b][1],
                                               sum(med[b])))
    ratio_fit = med["dask"][0] / med["threading"][0]
    ratio_pred = med["dask"][1] / med["threading"][1]
    ratio = sum(med["dask"]) / sum(med["threading"])
    print("dask / threading: fit %.2fx, predict %.2fx, total %.2fx "
          "(cluster start-up %.1f s, not included)"
          % (ratio_fit, ratio_pred, ratio, startup))
    print("held-out predict_proba equal bit for bit: %s (max |diff| %.3g)"
          % (same, diff))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"scale": args.scale, "repeats": args.repeats,
                       "times": times, "median": med, "ratio_fit": ratio_fit,
                       "ratio_predict": ratio_pred, "ratio_total": ratio,
                       "startup_s": startup, "equal": same,
                       "max_abs_diff": diff}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
