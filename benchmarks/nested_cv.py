"""Nested cross-validation benchmark: mlcore's one-pool-per-layer nested CV
against the ideal and against scikit-learn.

Run from the repository root::

    python benchmarks/nested_cv.py                # ~3-6 min on 2 cores
    python benchmarks/nested_cv.py --quick        # smoke run
    python benchmarks/nested_cv.py --rows 6000 --repeats 5

Workload (fixed seeds): ``make_classification(rows, 20, n_informative=8)``;
five base learners (RandomForest(60), ExtraTrees(60), LogisticRegression,
KNeighbors(15), GaussianNB) passing class probabilities to a
LogisticRegression meta learner; 5 outer folds (``StratifiedKFold(5)``),
5 inner folds, ROC AUC.

Engines
-------
``serial``
    :func:`mlcore.model_selection.cross_validate_ensemble` on the
    sequential backend: every fit, prediction and score of the nested CV one
    after another on one core. Its wall time is the total work; the ideal
    wall time on ``c`` cores is that over ``c``.
``mlcore-threading``, ``mlcore-loky``
    The same call with ``n_jobs`` = cores: each layer of all outer folds
    runs as one pool.
``mlcore-loop``
    A plain loop over the outer folds calling ``clone(ens).fit`` and
    scoring it (``n_jobs`` = cores, threading): one pool per layer *per
    outer fold*, the reference the numbers of cross_validate_ensemble
    equal.
``sklearn``
    ``cross_val_score(StackingClassifier(same learners, cv=5,
    stack_method='predict_proba'), cv=5, n_jobs=cores)``: outer folds in
    parallel on loky processes. (It does less work than mlcore: no
    cross-validation of the meta learner, no per-learner or discrete Super
    Learner scores.)

Method: BLAS and OpenMP are pinned to one thread per process (set below,
before numpy loads), so every engine's parallelism is its own. Repeats are
interleaved (repeat ``r`` runs every engine once, the order rotated by
``r``) so that all engines see the same machine load; times are medians,
``ratio`` is the median over repeats of wall / ideal of the same repeat.
``cpu s`` is the CPU time the engine's process and its workers used
(psutil), and ``cores`` that over the wall time: how many cores the engine
kept busy.
The machine's load average is printed at the start and the end: on a
shared machine other processes take cores, and the ratios then say as much
about them as about the engines.
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def learners():
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    return [("rf", RandomForestClassifier(60, random_state=0)),
            ("et", ExtraTreesClassifier(60, random_state=0)),
            ("lr", LogisticRegression(max_iter=2000)),
            ("knn", KNeighborsClassifier(15)),
            ("nb", GaussianNB())]


def ensemble(backend, n_jobs):
    from sklearn.linear_model import LogisticRegression
    from mlcore.ensemble import SuperLearner
    ens = SuperLearner(random_state=0, backend=backend, n_jobs=n_jobs)
    ens.add(learners(), proba=True)
    return ens.add_meta(LogisticRegression())


def run_mlcore(X, y, backend, n_jobs):
    from sklearn.model_selection import StratifiedKFold
    from mlcore.model_selection import cross_validate_ensemble
    res = cross_validate_ensemble(ensemble(backend, n_jobs), X, y,
                                  cv=StratifiedKFold(5), scoring="roc_auc")
    return res.scores["ensemble"].to_numpy()


def run_loop(X, y, n_jobs):
    from sklearn.base import clone
    from sklearn.metrics import get_scorer
    from sklearn.model_selection import StratifiedKFold
    scorer, ens = get_scorer("roc_auc"), ensemble("threading", n_jobs)
    out = []
    for tr, te in StratifiedKFold(5).split(X, y):
        out.append(scorer(clone(ens).fit(X[tr], y[tr]), X[te], y[te]))
    return np.asarray(out)


def run_sklearn(X, y, n_jobs):
    from sklearn.ensemble import StackingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    stack = StackingClassifier(learners(), LogisticRegression(),
                               cv=StratifiedKFold(5),
                               stack_method="predict_proba")
    return cross_val_score(stack, X, y, cv=StratifiedKFold(5),
                           scoring="roc_auc", n_jobs=n_jobs)


def cpu_seconds():
    """User + system CPU seconds so far of this process, of its children
    that ended (``RUSAGE_CHILDREN``) and of its live children (loky
    workers, via psutil)."""
    import resource
    import psutil
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    for proc in psutil.Process().children(recursive=True):
        try:
            t = proc.cpu_times()
        except psutil.Error:  # a worker that just exited
            continue
        total += t.user + t.system
    return total


def load():
    try:
        return "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:  # pragma: no cover
        return "n/a"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="600 rows, one repeat")
    parser.add_argument("--n-jobs", type=int, default=None,
                        help="workers (default: the cores this process "
                        "may use)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.repeats = 600, 1
    from sklearn.datasets import make_classification
    X, y = make_classification(args.rows, 20, n_informative=8,
                               random_state=0)
    c = args.n_jobs or cores()
    print("nested CV: %d rows x 20 features, 5 learners + meta, 5 outer x "
          "5 inner folds; %d cores usable, n_jobs=%d" % (args.rows, cores(),
                                                         c))
    print("load average at start: %s" % load())
    engines = {
        "serial": lambda: run_mlcore(X, y, "sequential", 1),
        "mlcore-threading": lambda: run_mlcore(X, y, "threading", c),
        "mlcore-loky": lambda: run_mlcore(X, y, "loky", c),
        "mlcore-loop": lambda: run_loop(X, y, c),
        "sklearn": lambda: run_sklearn(X, y, c),
    }
    names = list(engines)
    times = {name: [] for name in names}
    cpu = {name: [] for name in names}
    scores = {}
    run_mlcore(X[:200], y[:200], "loky", c)  # start the loky workers once
    for r in range(args.repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            c0, t0 = cpu_seconds(), time.perf_counter()
            scores[name] = engines[name]()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(cpu_seconds() - c0)
    ideal = [t / c for t in times["serial"]]
    print("load average at end:   %s" % load())
    print("\n%-18s %8s %8s %7s %8s %6s  %s" % (
        "engine", "wall s", "ideal s", "ratio", "cpu s", "cores", "mean AUC"))
    for name in names:
        ratio = statistics.median(t / i for t, i in zip(times[name], ideal))
        print("%-18s %8.2f %8.2f %7.3f %8.2f %6.2f  %.6f" % (
            name, statistics.median(times[name]), statistics.median(ideal),
            ratio, statistics.median(cpu[name]),
            statistics.median(u / t for u, t in zip(cpu[name], times[name])),
            float(np.mean(scores[name]))))
    same = np.array_equal(scores["mlcore-threading"], scores["mlcore-loop"])
    print("\nmlcore nested CV scores equal the plain loop's: %s" % same)
    print("ratio = wall / (serial wall / %d cores); target: mlcore within "
          "1.15. cpu s: CPU time of the process and its workers; cores: cpu "
          "s / wall s, the cores the engine got (below %d: other processes "
          "had the rest, or the engine left them idle)" % (c, c))


if __name__ == "__main__":
    main()
