"""Serving latency: a fitted ensemble's predict / predict_proba on 1 and 100 rows.

Run from the repository root::

    python benchmarks/serving.py                 # 300 calls per case
    python benchmarks/serving.py --calls 2000 --n-jobs 1

The same four base learners (LogisticRegression, RandomForest(50), KNN(10),
GaussianNB; class probabilities as meta features) and LogisticRegression meta
are fitted once by mlcore's SuperLearner and by scikit-learn's
StackingClassifier (``cv=KFold(5)``, ``stack_method="predict_proba"``). Then,
for each batch size, the calls of the engines are *interleaved* (call i of
every engine, in an order rotated by i) so that all engines see the same
machine load, and the p50 / p99 latencies are printed.

``own`` is not an engine: it calls mlcore's fitted base learners'
``predict_proba`` and its meta learner's ``predict`` (``predict_proba``)
directly, one after another, on the same rows: the work any engine must do
for this ensemble (its results are checked against mlcore's). ``overhead`` is mlcore's p50 minus own's p50, per layer
(two layers: the base layer and the meta layer).

Targets (printed as ``ok`` / ``MISS``): mlcore's p50 and p99 at most
scikit-learn's, for both calls and both batch sizes.
"""
import argparse
import time
import warnings

import numpy as np


def learners(seed=0):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    return [("lr", LogisticRegression(max_iter=500)),
            ("rf", RandomForestClassifier(50, random_state=seed)),
            ("knn", KNeighborsClassifier(10)),
            ("nb", GaussianNB())]


def fit_engines(X, y, n_jobs):
    from sklearn.ensemble import StackingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold
    from mlcore.ensemble import SuperLearner
    ens = SuperLearner(folds=5, n_jobs=n_jobs)
    ens.add(learners(), proba=True)
    ens.add_meta(LogisticRegression())
    ens.fit(X, y)
    sk = StackingClassifier(learners(), LogisticRegression(), cv=KFold(5),
                            stack_method="predict_proba", n_jobs=n_jobs)
    sk.fit(X, y)
    return ens, sk


def own_calls(ens):
    """The predict calls of mlcore's fitted learners (the full fits of the
    base layer, then the meta learner), without any engine around them."""
    base = [est for (name, part, fold), est in ens.layers_[0].estimators_.items()
            if fold == 0]
    meta = ens.final_estimator_

    def meta_input(A):
        return np.hstack([est.predict_proba(A) for est in base])

    return {"predict": lambda A: ens.classes_[meta.predict(meta_input(A))]
            if _encoded(ens, meta) else meta.predict(meta_input(A)),
            "predict_proba": lambda A: meta.predict_proba(meta_input(A))}


def _encoded(ens, meta):
    """Whether the meta learner was fitted on class positions."""
    return not np.array_equal(np.asarray(meta.classes_), ens.classes_)


def latencies(calls, A, n):
    """{engine: [seconds]} of n interleaved calls per engine."""
    names = list(calls)
    out = {name: [] for name in names}
    for name in names:  # warm-up: first-call costs are not serving latency
        calls[name](A)
    for i in range(n):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            t0 = time.perf_counter()
            calls[name](A)
            out[name].append(time.perf_counter() - t0)
    return out


def check_agreement(ens, sk, own, X):
    """mlcore's meta input is the learners' probabilities: predictions must
    match the own-calls path (and scikit-learn's, whose folds are the
    same)."""
    A = X[:100]
    for method in ("predict", "predict_proba"):
        mine = getattr(ens, method)(A)
        ref = own[method](A)
        if method == "predict":
            agree = float(np.mean(np.asarray(mine) == np.asarray(ref)))
        else:
            agree = float(np.max(np.abs(np.asarray(mine) - ref)))
        print("  check %-13s mlcore vs learners' own calls: %s"
              % (method, ("agreement %.3f" % agree) if method == "predict"
                 else ("max |d| %.1e" % agree)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=300,
                    help="calls per engine and case (default 300)")
    ap.add_argument("--n-jobs", type=int, default=-1)
    ap.add_argument("--rows", type=int, default=5000,
                    help="training rows (default 5000)")
    ap.add_argument("--pin", action="store_true",
                    help="measure with BLAS/OpenMP at one thread for every "
                    "engine (threadpoolctl): the overhead is then the "
                    "engine's own; by default each engine runs as users run "
                    "it (mlcore caps BLAS at one thread on small inputs)")
    args = ap.parse_args(argv)
    if args.pin:
        from threadpoolctl import threadpool_limits
        with threadpool_limits(1):
            return _measure(args)
    return _measure(args)


def _measure(args):
    warnings.filterwarnings("ignore")
    from sklearn.datasets import make_classification
    X, y = make_classification(args.rows + 100, 20, n_informative=8,
                               random_state=0)
    Xq, X, y = X[-100:], X[:-100], y[:-100]
    ens, sk = fit_engines(X, y, args.n_jobs)
    own = own_calls(ens)
    print("serving latency, n_jobs=%d, %d calls per engine and case "
          "(interleaved)%s" % (args.n_jobs, args.calls,
                               ", BLAS pinned to 1 thread" if args.pin
                               else ""))
    check_agreement(ens, sk, own, Xq)
    print("  %-14s %5s %-8s %9s %9s" % ("call", "rows", "engine", "p50 ms",
                                        "p99 ms"))
    results = []
    for method in ("predict", "predict_proba"):
        for rows in (1, 100):
            A = Xq[:rows]
            calls = {"mlcore": getattr(ens, method),
                     "sklearn": getattr(sk, method), "own": own[method]}
            lat = latencies(calls, A, args.calls)
            stats = {name: (np.percentile(v, 50) * 1e3,
                            np.percentile(v, 99) * 1e3)
                     for name, v in lat.items()}
            for name in calls:
                print("  %-14s %5d %-8s %9.3f %9.3f"
                      % (method, rows, name, stats[name][0], stats[name][1]))
            per_layer = (stats["mlcore"][0] - stats["own"][0]) / 2
            print("  %-14s %5d overhead of mlcore over the learners' own "
                  "calls: %.3f ms per layer (p50)" % (method, rows, per_layer))
            results.append((method, rows, stats))
    print()
    print("Targets (mlcore no slower than scikit-learn):")
    for method, rows, stats in results:
        for q, label in ((0, "p50"), (1, "p99")):
            m, s = stats["mlcore"][q], stats["sklearn"][q]
            print("  %-4s %s %d row(s) %s: mlcore %.3f ms vs sklearn %.3f ms "
                  "(%.2fx)" % ("ok" if m <= s else "MISS", method, rows,
                               label, m, s, m / s))


if __name__ == "__main__":
    main()
