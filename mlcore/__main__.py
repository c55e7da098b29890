"""The main job: fit a two-layer SuperLearner and report.

    python -m mlcore                       # generated classification data
    python -m mlcore --data d.csv --target label --folds 5 --n-jobs 2

Progress goes to stderr; the report (per-learner CV scores and times, the
ensemble's holdout score next to the best single learner's, total time) to
stdout.
"""
import argparse
import os
import sys
import time

import numpy as np


def _load_data(path, target):
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        arr = np.load(path, allow_pickle=False)
    elif ext == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if "X" in z.files and "y" in z.files:
                return z["X"], z["y"], None
            raise ValueError("%s must hold arrays 'X' and 'y'" % path)
    else:
        import csv
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        header, body = rows[0], rows[1:]
        if target is None:
            target = header[-1]
        if target not in header:
            raise ValueError("target column %r not in %s" % (target, header))
        t = header.index(target)
        y = np.array([r[t] for r in body])
        X = np.array([[float(v) for i, v in enumerate(r) if i != t]
                      for r in body])
        try:
            y = y.astype(np.float64)
            if np.all(y == np.rint(y)) and len(np.unique(y)) <= 20:
                y = y.astype(np.int64)
        except ValueError:
            pass
        return X, y, None
    col = -1 if target is None else int(target)
    y = arr[:, col]
    X = np.delete(arr, col, axis=1)
    if np.all(y == np.rint(y)) and len(np.unique(y)) <= 20:
        y = y.astype(np.int64)
    return X, y, None


def _is_classification(y):
    return y.dtype.kind in "OUSb" or (y.dtype.kind in "iu")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m mlcore",
        description="Fit a two-layer SuperLearner and print a report.")
    parser.add_argument("--data", help="CSV (with header), .npy or .npz (X, y) "
                        "file; default: generated classification data")
    parser.add_argument("--target", help="target column (CSV name, or index "
                        "for .npy); default: the last column")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--n-jobs", type=int, default=-1)
    parser.add_argument("--backend", default="threading",
                        choices=["threading", "loky", "sequential",
                                 "multiprocessing"])
    parser.add_argument("--n-samples", type=int, default=20000,
                        help="rows of generated data")
    parser.add_argument("--holdout", type=float, default=0.2,
                        help="fraction of rows held out for scoring")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    t_start = time.perf_counter()
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    from mlcore.ensemble import SuperLearner

    if args.data:
        X, y, _ = _load_data(args.data, args.target)
        source = args.data
    else:
        X, y = make_classification(n_samples=args.n_samples, n_features=20,
                                   n_informative=8, n_redundant=0,
                                   n_classes=3, random_state=args.seed)
        source = "make_classification(%d x 20, 3 classes)" % args.n_samples
    classification = _is_classification(np.asarray(y))
    Xtr, Xte, ytr, yte = train_test_split(
        X, y, test_size=args.holdout, random_state=args.seed,
        stratify=y if classification else None)

    if classification:
        from sklearn.ensemble import ExtraTreesClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.naive_bayes import GaussianNB
        from sklearn.neighbors import KNeighborsClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.tree import DecisionTreeClassifier
        base = [("logreg", make_pipeline(StandardScaler(),
                                         LogisticRegression(max_iter=500))),
                ("gnb", GaussianNB()),
                ("tree", DecisionTreeClassifier(max_depth=8)),
                ("extratrees", ExtraTreesClassifier(n_estimators=50,
                                                    max_depth=10, n_jobs=1)),
                ("knn", make_pipeline(StandardScaler(),
                                      KNeighborsClassifier(15)))]
        meta = LogisticRegression(max_iter=500)
        metric_name = "accuracy"
        from sklearn.metrics import accuracy_score as metric
    else:
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.linear_model import Ridge
        from sklearn.neighbors import KNeighborsRegressor
        from sklearn.tree import DecisionTreeRegressor
        base = [("ridge", Ridge()), ("tree", DecisionTreeRegressor(max_depth=8)),
                ("forest", RandomForestRegressor(50, max_depth=10, n_jobs=1)),
                ("knn", KNeighborsRegressor(10))]
        meta = Ridge()
        metric_name = "R^2"
        from sklearn.metrics import r2_score as metric

    from sklearn.model_selection import KFold, StratifiedKFold
    # stratified folds for classification: rows sorted by label must not
    # give folds without some class
    folds = (StratifiedKFold if classification else KFold)(args.folds)
    ens = SuperLearner(folds=folds, n_jobs=args.n_jobs,
                       backend=args.backend, random_state=args.seed,
                       verbose=True)
    ens.add(base, proba=classification)
    ens.add_meta(meta)
    print("[mlcore] data: %s; train %d rows, holdout %d rows; backend=%s, "
          "n_jobs=%d, folds=%d" % (source, len(ytr), len(yte), args.backend,
                                    args.n_jobs, args.folds),
          file=sys.stderr, flush=True)
    ens.fit(Xtr, ytr)
    t_pred = time.perf_counter()
    ens_score = metric(yte, ens.predict(Xte))
    pred_time = time.perf_counter() - t_pred

    # The best single learner: the full refit of each layer-1 learner.
    layer = ens.layers_[0]
    singles = {}
    for lr in layer.learners:
        est = layer.estimators_[(lr.key, 0, 0)]
        singles[lr.key] = metric(yte, est.predict(Xte))
    best = max(singles, key=singles.get)

    print("Cross-validated scores (%d %s folds; score = %s). layer-2 is the "
          "meta learner, cross-validated on the same folds of layer-1's "
          "out-of-fold predictions"
          % (args.folds, "stratified" if classification else "contiguous",
             metric_name))
    print(ens.data)
    print()
    print("Holdout %s" % metric_name)
    for name, s in sorted(singles.items(), key=lambda kv: -kv[1]):
        print("  %-14s %.4f" % (name, s))
    print("  %-14s %.4f   (best single learner: %s %.4f, difference %+.4f)"
          % ("SuperLearner", ens_score, best, singles[best],
             ens_score - singles[best]))
    print()
    print("Fit time %.2f s, predict time %.2f s, total %.2f s"
          % (ens.fit_time_, pred_time, time.perf_counter() - t_start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
