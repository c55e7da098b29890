"""The main job: fit a two-layer SuperLearner and report.

    python -m mlcore                       # generated classification data
    python -m mlcore --data d.csv --target label --folds 5 --n-jobs 2

Progress goes to stderr; the report (per-learner CV scores and times, the
ensemble's holdout score next to the best single learner's, total time) to
stdout. ``python -m mlcore --help`` lists every option with its default.
A data file that cannot be used as it is (empty cells, text columns, ragged
rows, an unknown target column) is reported by column and line, with what
to do, before anything is fitted; the exit status is then 2.
"""
import argparse
import sys
import time

import numpy as np

from ._tabular import NA_VALUES, DataError, read_table

# integer targets with more distinct values than this are taken for a
# regression (--task auto)
MAX_CLASSES = 20


def build_parser():
    """The argument parser of ``python -m mlcore``."""
    p = argparse.ArgumentParser(
        prog="python -m mlcore",
        description="Fit a two-layer SuperLearner (five base learners and a "
                    "meta learner) on a data file or on generated data, and "
                    "print the cross-validated scores of every learner and "
                    "the holdout score of the ensemble next to the best "
                    "single learner's.")
    data = p.add_argument_group("data")
    data.add_argument(
        "--data", metavar="FILE",
        help="CSV file (header row detected, delimiter sniffed), .npy array "
             "(target is a column) or .npz with arrays X and y. Default: "
             "generated classification data (see --n-samples)")
    data.add_argument(
        "--target", metavar="COLUMN",
        help="target column: a header name or a column number (0-based; "
             "negative counts from the end). Default: the last column")
    data.add_argument(
        "--header", choices=["auto", "yes", "no"], default="auto",
        help="whether the CSV's first row names the columns; auto: yes when "
             "it holds text above numeric columns (default: %(default)s)")
    data.add_argument(
        "--na-values", metavar="LIST", default=",".join(NA_VALUES),
        help="comma-separated cells read as missing, besides empty cells "
             "(default: %(default)s)")
    data.add_argument(
        "--task", choices=["auto", "classification", "regression"],
        default="auto",
        help="auto: classification for text labels and for integer targets "
             "with at most %d distinct values, regression otherwise "
             "(default: %%(default)s)" % MAX_CLASSES)
    data.add_argument(
        "--impute", choices=["none", "mean", "median", "most_frequent"],
        default="none",
        help="fill empty feature cells with this statistic of the training "
             "rows (text columns: the most frequent value); none: empty "
             "cells are an error naming the column (default: %(default)s)")
    data.add_argument(
        "--encode", choices=["none", "onehot", "ordinal"], default="none",
        help="encode text feature columns as categories learned on the "
             "training rows (one column per category, or one integer "
             "column); none: text columns are an error naming the column "
             "(default: %(default)s)")
    data.add_argument(
        "--n-samples", type=int, default=20000, metavar="N",
        help="rows of generated data, without --data (default: %(default)s)")
    fit = p.add_argument_group("fit")
    fit.add_argument(
        "--folds", type=int, default=5, metavar="K",
        help="folds of every layer, stratified for classification "
             "(default: %(default)s)")
    fit.add_argument(
        "--holdout", type=float, default=0.2, metavar="FRACTION",
        help="fraction of rows held out for the holdout scores, stratified "
             "for classification (default: %(default)s)")
    fit.add_argument(
        "--n-jobs", type=int, default=None, metavar="N",
        help="workers; -1: one per core (default: MLCORE_N_JOBS, else -1)")
    fit.add_argument(
        "--backend", default=None,
        choices=["threading", "loky", "sequential", "multiprocessing"],
        help="parallel backend (default: MLCORE_BACKEND, else threading)")
    fit.add_argument(
        "--seed", type=int, default=0,
        help="seed of the holdout split, the generated data and the "
             "learners (default: %(default)s)")
    return p


def _log(msg):
    print("[mlcore] %s" % msg, file=sys.stderr, flush=True)


def _target_index(table, target):
    if target is None:
        return len(table.names) - 1
    if target in table.names:
        return table.names.index(target)
    try:
        j = int(target)
    except ValueError:
        raise DataError("no column %r; the columns are %s"
                        % (target, table.names)) from None
    if not -len(table.names) <= j < len(table.names):
        raise DataError("column number %d is out of range: the data has %d "
                        "columns" % (j, len(table.names)))
    return j % len(table.names)


def _task(y, is_text, name, task):
    """The task, and y as the learners get it."""
    if task == "regression":
        if is_text:
            first = next(v for v in y if v is not None)
            raise DataError("--task regression: the target column %r holds "
                            "text (%r): regression needs numbers"
                            % (name, first))
        return "regression", y.astype(np.float64)
    if is_text:
        return "classification", np.asarray(y.astype(str))
    integral = bool(np.all(y == np.rint(y)))
    if task == "classification":
        return "classification", y.astype(np.int64) if integral else y
    n = len(np.unique(y))
    if integral and n <= MAX_CLASSES:
        return "classification", y.astype(np.int64)
    if integral:
        _log("task: regression (the target %r holds %d distinct integers, "
             "more than %d; use --task classification if they are classes)"
             % (name, n, MAX_CLASSES))
    return "regression", y.astype(np.float64)


def _first_lines(lines, k=3):
    shown = ", ".join(str(v) for v in lines[:k])
    return shown + (", ..." if len(lines) > k else "")


def _features(table, t, args):
    """(numeric block, text block, their names): the feature columns, after
    checking them against --impute and --encode."""
    num, txt, num_names, txt_names = [], [], [], []
    for j, name in enumerate(table.names):
        if j == t:
            continue
        col, missing = table.columns[j], table.missing[j]
        if len(missing) and args.impute == "none":
            raise DataError(
                "column %r has %d empty cell%s (line%s %s): fill them in, "
                "remove those rows, or use --impute mean|median|"
                "most_frequent" % (name, len(missing),
                                   "s" if len(missing) > 1 else "",
                                   "s" if len(missing) > 1 else "",
                                   _first_lines(missing)))
        if table.text[j]:
            if args.encode == "none":
                word, line = table.first_text[j]
                raise DataError(
                    "column %r holds text (%r on line %d): use --encode "
                    "onehot|ordinal to encode it as categories, or remove "
                    "the column" % (name, word, line))
            txt.append(col)
            txt_names.append(name)
        else:
            num.append(col)
            num_names.append(name)
    if not num and not txt:
        raise DataError("the data has no feature columns besides the "
                        "target %r" % table.names[t])
    n = table.n_rows
    num = np.column_stack(num) if num else np.empty((n, 0))
    txt = np.column_stack(txt) if txt else np.empty((n, 0), dtype=object)
    return num, txt, num_names, txt_names


class _Features(object):
    """Imputation and encoding of the feature blocks, learned on the
    training rows only (nothing of the holdout leaks into the fit)."""

    def __init__(self, impute, encode):
        self.impute, self.encode = impute, encode

    def fit(self, num, txt):
        from sklearn.impute import SimpleImputer
        from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder
        self.num_imp = self.txt_imp = self.enc = None
        if self.impute != "none" and num.shape[1]:
            self.num_imp = SimpleImputer(strategy=self.impute).fit(num)
        if txt.shape[1]:
            if self.impute != "none":
                self.txt_imp = SimpleImputer(strategy="most_frequent",
                                             missing_values=None).fit(txt)
                txt = self.txt_imp.transform(txt)
            if self.encode == "onehot":
                self.enc = OneHotEncoder(handle_unknown="ignore",
                                         sparse_output=False)
            else:
                self.enc = OrdinalEncoder(handle_unknown="use_encoded_value",
                                          unknown_value=-1)
            self.enc.fit(txt)
        return self

    def transform(self, num, txt):
        if self.num_imp is not None:
            num = self.num_imp.transform(num)
        parts = [num]
        if self.enc is not None:
            if self.txt_imp is not None:
                txt = self.txt_imp.transform(txt)
            parts.append(self.enc.transform(txt))
        return np.hstack(parts).astype(np.float64)


def _load(args):
    """X, y, a description of the source, the task and a feature builder
    (None for ready numeric X)."""
    table = read_table(args.data, header=args.header,
                       na_values=[v for v in args.na_values.split(",")])
    if table.header is not None:
        _log("%s: %s" % (args.data, "first row taken as the header (text "
                         "above numeric columns; --header no if it is data)"
                         if table.header else "no header row (columns "
                         "col0, col1, ...; --header yes if the first row "
                         "names them)"))
    t = _target_index(table, args.target)
    name = table.names[t]
    if len(table.missing[t]):
        raise DataError("the target column %r has %d empty cell%s (line%s "
                        "%s): remove those rows"
                        % (name, len(table.missing[t]),
                           "s" if len(table.missing[t]) > 1 else "",
                           "s" if len(table.missing[t]) > 1 else "",
                           _first_lines(table.missing[t])))
    task, y = _task(table.columns[t], table.text[t], name, args.task)
    num, txt, _, _ = _features(table, t, args)
    return (num, txt), y, "%s (target %r)" % (args.data, name), task


def _split(y, args, classification):
    from sklearn.model_selection import train_test_split
    idx = np.arange(len(y))
    try:
        tr, te = train_test_split(idx, test_size=args.holdout,
                                  random_state=args.seed,
                                  stratify=y if classification else None)
    except ValueError as exc:
        raise DataError("cannot hold out %s of the rows%s: %s"
                        % (args.holdout, " stratified by class"
                           if classification else "", exc)) from None
    return tr, te


def _learners(classification):
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
        from sklearn.metrics import accuracy_score
        return base, LogisticRegression(max_iter=500), "accuracy", \
            accuracy_score
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.tree import DecisionTreeRegressor
    base = [("ridge", Ridge()), ("tree", DecisionTreeRegressor(max_depth=8)),
            ("forest", RandomForestRegressor(50, max_depth=10, n_jobs=1)),
            ("knn", KNeighborsRegressor(10))]
    return base, Ridge(), "R^2", r2_score


def _report(args, t_start):
    from sklearn.datasets import make_classification
    from sklearn.model_selection import KFold, StratifiedKFold

    from .ensemble import SuperLearner

    if args.data:
        (num, txt), y, source, task = _load(args)
    else:
        X, y = make_classification(n_samples=args.n_samples, n_features=20,
                                   n_informative=8, n_redundant=0,
                                   n_classes=3, random_state=args.seed)
        num, txt = X, np.empty((len(y), 0), dtype=object)
        source = "make_classification(%d x 20, 3 classes)" % args.n_samples
        task = "classification"
    classification = task == "classification"
    tr, te = _split(y, args, classification)
    feats = _Features(args.impute, args.encode).fit(num[tr], txt[tr])
    Xtr, Xte = feats.transform(num[tr], txt[tr]), feats.transform(num[te],
                                                                   txt[te])
    ytr, yte = y[tr], y[te]

    base, meta, metric_name, metric = _learners(classification)
    # stratified folds for classification: rows sorted by label must not
    # give folds without some class
    folds = (StratifiedKFold if classification else KFold)(args.folds)
    ens = SuperLearner(folds=folds, n_jobs=args.n_jobs,
                       backend=args.backend, random_state=args.seed,
                       verbose=10)  # 10: progress on stderr, not stdout
    ens.add(base, proba=classification)
    ens.add_meta(meta)
    _log("data: %s; %s; train %d rows, holdout %d rows, %d features; "
         "folds=%d" % (source, task, len(ytr), len(yte), Xtr.shape[1],
                       args.folds))
    ens.fit(Xtr, ytr)
    t_pred = time.perf_counter()
    ens_score = metric(yte, ens.predict(Xte))
    pred_time = time.perf_counter() - t_pred

    # The best single learner: the full refit of each layer-1 learner (they
    # predict the user's labels).
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
    table = ens.data_table()  # every layer, the meta layer included
    table.decimals = 4
    print(table)
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


def main(argv=None):
    """Run ``python -m mlcore`` with ``argv``; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    t_start = time.perf_counter()
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("python -m mlcore: error: the main job fits scikit-learn "
              "estimators, and scikit-learn is not installed: pip install "
              "'mlcore[sklearn]'", file=sys.stderr)
        return 2
    if args.n_jobs == 0:
        parser.error("--n-jobs must be a positive number of workers or -1 "
                     "for one per core, got 0")
    if args.folds < 2:
        parser.error("--folds must be at least 2, got %d" % args.folds)
    if not 0 < args.holdout < 1:
        parser.error("--holdout must be a fraction between 0 and 1, got %r"
                     % args.holdout)
    try:
        return _report(args, t_start)
    except DataError as exc:
        print("python -m mlcore: error: %s" % exc, file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        print("python -m mlcore: error: %s is not UTF-8 text (%s); save it "
              "as UTF-8" % (args.data, exc.reason), file=sys.stderr)
        return 2
    except (ValueError, TypeError) as exc:
        # Settings (options, MLCORE_* variables) and labels that the
        # estimators refuse: say what was wrong, without a traceback.
        print("python -m mlcore: error: %s: %s" % (type(exc).__name__, exc),
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
