"""Evaluator benchmark: 4 learners x 3 preprocessing cases x 5 folds.

Run from the repository root::

    python benchmarks/evaluator.py                # 3 interleaved repeats
    python benchmarks/evaluator.py --rows 5000 --repeats 5

``ideal`` runs every fit of the evaluation one after another in one thread
(each case's preprocessing fitted per fold and applied to the fold's train
and test rows; each learner fitted on the transformed train rows and
predicting both parts, as the Evaluator scores both), with BLAS/OpenMP at
one thread; its sum divided by the number of cores is the ideal wall time.
``mlcore`` is :class:`mlcore.model_selection.Evaluator` with the same folds
(``cv=5``, no shuffling), ``n_jobs`` = cores, threading backend. Repeats are
interleaved (the order alternates) and the ratio is the median of the
per-repeat ratios. The scores of both are compared fold by fold.

Target: mlcore at most 1.10x the ideal.
"""
import argparse
import time
import warnings

import numpy as np


def learners():
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import Ridge
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.tree import DecisionTreeRegressor
    return [("ridge", Ridge()), ("knn", KNeighborsRegressor(10)),
            ("tree", DecisionTreeRegressor(max_depth=12, random_state=0)),
            ("rf", RandomForestRegressor(20, max_depth=10, n_jobs=1,
                                         random_state=0))]


def cases():
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler
    return {"sc": [StandardScaler()], "pca": [PCA(10, random_state=0)],
            "none": []}


def run_ideal(X, y, folds):
    """Serial loop; (seconds, {(case, learner): [test r2 per fold]})."""
    from sklearn.base import clone
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold
    from threadpoolctl import threadpool_limits
    scores = {}
    with threadpool_limits(1):
        t0 = time.perf_counter()
        for tr, te in KFold(folds).split(X):
            for case, steps in cases().items():
                Xtr, Xte = X[tr], X[te]
                for step in steps:
                    step = clone(step).fit(Xtr, y[tr])
                    Xtr, Xte = step.transform(Xtr), step.transform(Xte)
                for name, est in learners():
                    est = clone(est).fit(Xtr, y[tr])
                    est.predict(Xtr)
                    scores.setdefault((case, name), []).append(
                        r2_score(y[te], est.predict(Xte)))
        return time.perf_counter() - t0, scores


def run_mlcore(X, y, folds, n_jobs):
    from mlcore.model_selection import Evaluator
    ev = Evaluator("r2", cv=folds, shuffle=False, n_jobs=n_jobs,
                   backend="threading")
    t0 = time.perf_counter()
    ev.fit(X, y, {case: learners() for case in cases()},
           preprocessing=cases())
    wall = time.perf_counter() - t0
    # cv_results_ names are "case.learner"
    scores = {(r["case"], r["name"].split(".", 1)[-1]): r["test_score"]
              for r in ev.cv_results_}
    return wall, scores


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-jobs", type=int, default=None,
                    help="default: the number of cores")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    from joblib import cpu_count
    from sklearn.datasets import make_regression
    cores = cpu_count()
    n_jobs = args.n_jobs or cores
    X, y = make_regression(args.rows, 30, noise=10, random_state=0)
    ratios, walls, ideals = [], [], []
    for r in range(args.repeats):
        order = ("ideal", "mlcore") if r % 2 == 0 else ("mlcore", "ideal")
        out = {}
        for engine in order:
            out[engine] = run_ideal(X, y, 5) if engine == "ideal" else \
                run_mlcore(X, y, 5, n_jobs)
        ideal = out["ideal"][0] / cores
        ratios.append(out["mlcore"][0] / ideal)
        walls.append(out["mlcore"][0])
        ideals.append(ideal)
        ref, got = out["ideal"][1], out["mlcore"][1]
        worst = max(np.max(np.abs(np.asarray(got[k]) - np.asarray(v)))
                    for k, v in ref.items())
        print("repeat %d: ideal serial %.2f s / %d cores = %.2f s; mlcore "
              "%.2f s = %.2fx; fold scores max |d| %.1e over %d "
              "(case, learner) pairs" % (r, out["ideal"][0], cores, ideal,
                                         out["mlcore"][0], ratios[-1], worst,
                                         len(ref)))
    med = float(np.median(ratios))
    print("median: mlcore %.2f s, ideal %.2f s, %.2fx (spread %.2f-%.2f); "
          "target <= 1.10x: %s" % (np.median(walls), np.median(ideals), med,
                                   min(ratios), max(ratios),
                                   "ok" if med <= 1.10 else "MISS"))


if __name__ == "__main__":
    main()
