"""Ensemble benchmark: mlcore against scikit-learn, mlxtend and vecstack.

Run from the repository root::

    python benchmarks/ensembles.py --quick                 # smoke run, < 2 min on 2 cores
    python benchmarks/ensembles.py --workloads W1,W4 --repeats 3
    python benchmarks/ensembles.py --workloads W2 --scale 0.25 --plot ratios.png

Workloads (fixed seeds, generated data)

W1  many cheap learners: make_classification(120_000, 50, n_informative=10,
    n_redundant=0), last 20_000 rows held out; 8 base learners, class
    probabilities as meta features (RidgeClassifier and hinge SGD through
    :class:`SigmoidProba`, a sigmoid of decision_function, for every engine);
    LogisticRegression meta.
W2  few heavy learners: make_regression(24_000, 100, noise=10), last 4_000
    held out; RandomForest(50), HistGradientBoosting(100), Ridge,
    KNeighbors(10); Ridge meta.
W3  wide sparse: random CSR 200_000 x 5_000 at density 0.001 (last 20_000
    rows held out), linear target; Ridge, SGDRegressor, LinearSVR; Ridge meta
    that also sees the first 10 input columns (propagated features).
W4  tiny, overhead-dominated: make_classification(625, 10), last 125 held
    out (500 training rows); 5 cheap learners; LogisticRegression meta. Each
    engine fits it ``--inner`` times in the same process: the first fit is
    *cold* (worker start-up included), the others *warm*.

Every engine uses the same learners (same ``random_state``), the same
5 contiguous folds (``KFold(5)`` without shuffling) and ``n_jobs`` (default:
the number of cores); vecstack has no parallelism and runs serially.

Engines: ``mlcore-threading``, ``mlcore-loky`` (SuperLearner),
``mlens-threading`` (ML-Ensemble 0.2.3's SuperLearner, imported through
``tests/_mlens.py``; skipped when mlens is not installed), ``sklearn``
(StackingClassifier/Regressor, cv=KFold(5)), ``mlxtend``
(StackingCVClassifier/Regressor, cv=KFold(5)), ``vecstack``
(StackingTransformer, variant B, plus the meta estimator). Not run unless
named in ``--engines``: ``mlcore-threading-exclusive``, mlcore on threads
with its seeded liblinear/libsvm fits one at a time instead of on private
copies of the native modules (``mlcore._native.enabled = False``), the
scheduler as it was before those copies, for a baseline in the same run.
``ideal`` is not an
engine: it fits every (learner x fold) and full fit, and the meta estimator,
one after another on one thread, timing each fit and out-of-fold predict; its
sum divided by the number of cores is the ideal wall time every engine is
reported against. ``lb`` (printed with each workload) is the critical-path
bound ``max(ideal, longest task + meta fit)``.

Method
------
* The data are generated once and saved to a temporary directory; every
  engine fit runs in a fresh subprocess that loads them (``--child``).
* Runs are interleaved: repeat r runs every engine once, in an order rotated
  by r, so all engines see the same machine load. Ratios are medians of the
  per-repeat ratios (paired), times are medians.
* BLAS/OpenMP threads are pinned to 1 (``OMP_NUM_THREADS`` & co. in the
  subprocess environment) for engines that do not manage them
  (``--threads auto``, the default; see ``MANAGES_THREADS``); ``--threads
  pinned`` pins every engine, ``--threads free`` none (the ideal is always
  single-threaded).
* Peak memory: the parent samples the proportional set size (PSS, shared
  pages split between the processes that map them) of the subprocess and all
  its descendants (loky workers included) every 50 ms (100 ms with
  ``--quick``) with psutil; ``peak``
  is the largest sum seen during the fits, ``dfit`` that minus the value just
  before the first fit (interpreter, libraries and loaded data excluded).
  ``maxrss`` is the largest single-process RSS from
  ``getrusage(RUSAGE_SELF/RUSAGE_CHILDREN)`` (loky workers are shut down and
  reaped first).
* Correctness: the out-of-fold predictions of the first base layer of every
  engine that exposes them (mlcore ``oof_predictions_['layer-1']``, mlxtend
  ``train_meta_features_``, vecstack's train transform, the ideal loop) are
  compared with scikit-learn's ``cross_val_predict(cv=KFold(5))`` per learner
  (scikit-learn's StackingClassifier does not expose them; it computes the
  same cross_val_predict). Holdout scores (accuracy / R^2) are compared with
  mlcore-threading's.

Engine targets (see :func:`check_targets`) are checked at the end and
printed as ``ok`` / ``MISS``.
"""
import argparse
import json
import os
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings

import numpy as np
import scipy.sparse as sp

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# ML-Ensemble 0.2.3 runs on threads only here: its multiprocessing backend
# pickles through a vendored joblib that calls ndarray.tostring, which NumPy 2
# removed (``--engines mlens-multiprocessing`` shows the error).
ENGINES = ["mlcore-threading", "mlcore-loky", "mlens-threading", "sklearn",
           "mlxtend", "vecstack"]
# Run only when named in --engines (baselines of mlcore's own changes).
EXTRA_ENGINES = ["mlcore-threading-exclusive", "mlens-multiprocessing"]
# Engines that limit BLAS/OpenMP threads in their workers themselves: under
# --threads auto their subprocess is not pinned by environment variables.
# mlcore limits them to cores // workers with threadpoolctl for thread
# workers (mlcore._scheduler.run_jobs) and joblib's loky backend does it for
# process workers. (scikit-learn's and mlxtend's loky workers are limited by
# joblib too, but their refits and meta fits run in the driver: kept pinned.)
MANAGES_THREADS = {"mlcore-threading", "mlcore-loky",
                   "mlcore-threading-exclusive"}
PIN_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
            "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
            "NUMEXPR_NUM_THREADS")
N_FOLDS = 5


def n_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


###############################################################################
# Estimator helpers shared by every engine (module level: picklable)

try:
    from sklearn.base import (BaseEstimator, ClassifierMixin,
                              TransformerMixin, clone)
except ImportError:  # pragma: no cover
    sys.exit("benchmarks/ensembles.py needs scikit-learn")


class SigmoidProba(ClassifierMixin, BaseEstimator):
    """Binary classifier whose ``predict_proba`` is a sigmoid of the wrapped
    estimator's ``decision_function`` (RidgeClassifier, hinge SGD)."""

    def __init__(self, estimator=None):
        self.estimator = estimator

    def fit(self, X, y, **fit_params):
        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        self.classes_ = self.estimator_.classes_
        return self

    def decision_function(self, X):
        return self.estimator_.decision_function(X)

    def predict_proba(self, X):
        d = np.asarray(self.decision_function(X), dtype=np.float64)
        p = 1.0 / (1.0 + np.exp(-d))
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        return self.estimator_.predict(X)


class ColumnSelect(TransformerMixin, BaseEstimator):
    """Keep columns ``cols`` (dense or sparse): lets scikit-learn's and
    mlxtend's passthrough give the meta estimator the same 10 propagated
    input columns as mlcore's ``propagate_features``."""

    def __init__(self, cols=None):
        self.cols = cols

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        if sp.issparse(X):
            return X.tocsr()[:, self.cols]
        return np.asarray(X)[:, self.cols]


class VecstackEnsemble(object):
    """vecstack's StackingTransformer (variant B: OOF from fold models, test
    predictions from a full refit) followed by the meta estimator, with the
    first ``prop`` input columns next to the stacked features."""

    def __init__(self, learners, meta, regression, proba, prop):
        from vecstack import StackingTransformer
        self.st = StackingTransformer(
            learners, regression=regression, needs_proba=proba,
            n_folds=N_FOLDS, shuffle=False, stratified=False, variant="B",
            verbose=0)
        self.meta, self.prop = meta, prop

    def _with_prop(self, S, X):
        if not self.prop:
            return S
        if sp.issparse(X):
            return sp.hstack([X.tocsr()[:, :self.prop], sp.csr_matrix(S)],
                             format="csr")
        return np.hstack([X[:, :self.prop], S])

    def fit(self, X, y):
        S = self.st.fit(X, y).transform(X)  # what fit_transform does
        self.oof_ = S
        self.meta.fit(self._with_prop(S, X), y)
        return self

    def predict(self, X):
        return self.meta.predict(self._with_prop(self.st.transform(X), X))


###############################################################################
# Workloads

class Workload(object):
    """A benchmark workload: generated data, learners, meta estimator."""

    def __init__(self, name, kind, learners, meta, proba=False, prop=0,
                 inner=1, desc=""):
        self.name, self.kind = name, kind
        self._learners, self._meta = learners, meta
        self.proba, self.prop, self.inner, self.desc = proba, prop, inner, desc

    def learners(self):
        return [(n, clone(e)) for n, e in self._learners()]

    def meta(self):
        return clone(self._meta())


def _w1_learners():
    from sklearn.discriminant_analysis import (
        LinearDiscriminantAnalysis, QuadraticDiscriminantAnalysis)
    from sklearn.ensemble import ExtraTreesClassifier
    from sklearn.linear_model import (LogisticRegression, RidgeClassifier,
                                      SGDClassifier)
    from sklearn.naive_bayes import GaussianNB
    from sklearn.tree import DecisionTreeClassifier
    return [("lr", LogisticRegression()), ("gnb", GaussianNB()),
            ("ridge", SigmoidProba(RidgeClassifier())),
            ("tree", DecisionTreeClassifier(max_depth=6, random_state=0)),
            ("et", ExtraTreesClassifier(20, max_depth=8, n_jobs=1,
                                        random_state=0)),
            ("sgd", SigmoidProba(SGDClassifier(random_state=0))),
            ("lda", LinearDiscriminantAnalysis()),
            ("qda", QuadraticDiscriminantAnalysis())]


def _lr_meta():
    from sklearn.linear_model import LogisticRegression
    return LogisticRegression()


def _ridge_meta():
    from sklearn.linear_model import Ridge
    return Ridge()


def _w2_learners(n_trees, hgb_iter):
    def make():
        from sklearn.ensemble import (HistGradientBoostingRegressor,
                                      RandomForestRegressor)
        from sklearn.linear_model import Ridge
        from sklearn.neighbors import KNeighborsRegressor
        return [("rf", RandomForestRegressor(n_trees, n_jobs=1,
                                             random_state=0)),
                ("hgb", HistGradientBoostingRegressor(max_iter=hgb_iter,
                                                      random_state=0)),
                ("ridge", Ridge()), ("knn", KNeighborsRegressor(10))]
    return make


def _w3_learners():
    from sklearn.linear_model import Ridge, SGDRegressor
    from sklearn.svm import LinearSVR
    return [("ridge", Ridge()), ("sgd", SGDRegressor(random_state=0)),
            ("svr", LinearSVR(random_state=0))]


def _w4_learners():
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.tree import DecisionTreeClassifier
    return [("lr", LogisticRegression()), ("gnb", GaussianNB()),
            ("tree", DecisionTreeClassifier(max_depth=4, random_state=0)),
            ("knn", KNeighborsClassifier(5)),
            ("lda", LinearDiscriminantAnalysis())]


QUICK_SCALE = {"W1": 0.01, "W2": 0.025, "W3": 0.03}


def make_workloads(scale, quick):
    """{name: (Workload, data generator)} at ``scale`` of the full row counts
    (W4 keeps its size). ``scale=None``: 1, or QUICK_SCALE with ``quick``,
    which also cuts W2's forest to 5 trees and its boosting to 10 rounds."""
    def rows(n, w):
        s = scale if scale is not None else (
            QUICK_SCALE[w] if quick else 1.0)
        return max(int(round(n * s)), 50)

    n_trees, hgb_iter = (5, 10) if quick else (50, 100)
    w = {}
    n1, h1 = rows(100_000, "W1"), rows(20_000, "W1")
    w["W1"] = (Workload("W1", "clf", _w1_learners, _lr_meta, proba=True,
                        desc="make_classification(%d, 50), %d held out; 8 "
                        "learners, proba" % (n1 + h1, h1)),
               lambda: _gen_clf(n1 + h1, 50, h1, n_informative=10,
                                n_redundant=0))
    n2, h2 = rows(20_000, "W2"), rows(4_000, "W2")
    w["W2"] = (Workload("W2", "reg", _w2_learners(n_trees, hgb_iter),
                        _ridge_meta,
                        desc="make_regression(%d, 100), %d held out; RF(%d), "
                        "HGB(%d), Ridge, KNN" % (n2 + h2, h2, n_trees,
                                                 hgb_iter)),
               lambda: _gen_reg(n2 + h2, 100, h2))
    n3, h3 = rows(180_000, "W3"), rows(20_000, "W3")
    w["W3"] = (Workload("W3", "reg", _w3_learners, _ridge_meta, prop=10,
                        desc="CSR %d x 5000, density 0.001, %d held out; "
                        "Ridge, SGD, LinearSVR; 10 propagated"
                        % (n3 + h3, h3)),
               lambda: _gen_sparse(n3 + h3, 5000, h3))
    w["W4"] = (Workload("W4", "clf", _w4_learners, _lr_meta, proba=True,
                        inner=3 if quick else 6,
                        desc="make_classification(625, 10), 125 held out; "
                        "5 learners, proba"),
               lambda: _gen_clf(625, 10, 125))
    return w


def _gen_clf(n, p, hold, **kw):
    from sklearn.datasets import make_classification
    X, y = make_classification(n, p, random_state=0, **kw)
    return X[:-hold], y[:-hold], X[-hold:], y[-hold:]


def _gen_reg(n, p, hold):
    from sklearn.datasets import make_regression
    X, y = make_regression(n, p, noise=10, random_state=0)
    return X[:-hold], y[:-hold], X[-hold:], y[-hold:]


def _gen_sparse(n, p, hold):
    rng = np.random.default_rng(0)
    X = sp.random(n, p, density=0.001, format="csr", random_state=rng,
                  dtype=np.float64)
    w = rng.standard_normal(p)
    y = X @ w + 0.1 * rng.standard_normal(n)
    return X[:-hold], y[:-hold], X[-hold:], y[-hold:]


def _save(path, name, a):
    if sp.issparse(a):
        sp.save_npz(os.path.join(path, name + ".npz"), a.tocsr(),
                    compressed=False)
    else:
        np.save(os.path.join(path, name + ".npy"), np.ascontiguousarray(a))


def _load_arr(path, name):
    f = os.path.join(path, name + ".npy")
    if os.path.exists(f):
        return np.load(f)
    return sp.load_npz(os.path.join(path, name + ".npz")).tocsr()


def nbytes(a):
    if a is None:
        return 0
    if sp.issparse(a):
        a = a.tocsr()
        return a.data.nbytes + a.indices.nbytes + a.indptr.nbytes
    return np.asarray(a).nbytes


###############################################################################
# Child process: one engine (or the ideal / reference) on one workload

def tree_cpu():
    """CPU seconds (user + sys) of this process, its live descendants (loky
    workers) and its reaped children."""
    import psutil
    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime
    for p in psutil.Process().children(recursive=True):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _pss_self():
    import psutil
    p = psutil.Process()
    try:
        return p.memory_full_info().pss
    except Exception:
        return p.memory_info().rss


def _import_mlens(module):
    """ML-Ensemble 0.2.3 with the NumPy/collections aliases it needs and
    the side effects of its import confined (see tests/_mlens.py)."""
    import importlib
    sys.path.insert(0, ROOT)
    from tests._mlens import import_mlens
    import_mlens()
    return importlib.import_module(module)


def build_engine(engine, wl, n_jobs, n_features):
    learners, meta = wl.learners(), wl.meta()
    prop = wl.prop
    if engine.startswith(("mlcore", "mlens")):
        if engine.startswith("mlcore"):
            from mlcore.ensemble import SuperLearner
            if engine.endswith("-exclusive"):
                import mlcore._native
                mlcore._native.enabled = False
        else:
            SuperLearner = _import_mlens("mlens.ensemble").SuperLearner
        ens = SuperLearner(folds=N_FOLDS, n_jobs=n_jobs,
                           backend=engine.split("-")[1])
        ens.add(learners, proba=wl.proba,
                propagate_features=list(range(prop)) if prop else None)
        ens.add_meta(meta)
        return ens
    from sklearn.model_selection import KFold
    from sklearn.pipeline import Pipeline
    cv = KFold(N_FOLDS)
    n_pred = len(learners)
    if engine == "sklearn":
        from sklearn.ensemble import StackingClassifier, StackingRegressor
        if prop:  # preds first, then X
            cols = list(range(n_pred)) + [n_pred + i for i in range(prop)]
            meta = Pipeline([("sel", ColumnSelect(cols)), ("meta", meta)])
        if wl.kind == "clf":
            return StackingClassifier(learners, meta, cv=cv, n_jobs=n_jobs,
                                      stack_method="predict_proba"
                                      if wl.proba else "auto",
                                      passthrough=bool(prop))
        return StackingRegressor(learners, meta, cv=cv, n_jobs=n_jobs,
                                 passthrough=bool(prop))
    if engine == "mlxtend":
        ests = [e for _, e in learners]
        if prop:  # X first, then preds
            cols = list(range(prop)) + [n_features + j for j in range(n_pred)]
            meta = Pipeline([("sel", ColumnSelect(cols)), ("meta", meta)])
        if wl.kind == "clf":
            from mlxtend.classifier import StackingCVClassifier
            return StackingCVClassifier(
                ests, meta, cv=cv, shuffle=False, use_probas=wl.proba,
                n_jobs=n_jobs, use_features_in_secondary=bool(prop),
                store_train_meta_features=True, random_state=0)
        from mlxtend.regressor import StackingCVRegressor
        return StackingCVRegressor(
            ests, meta, cv=cv, shuffle=False, n_jobs=n_jobs,
            use_features_in_secondary=bool(prop),
            store_train_meta_features=True, random_state=0)
    if engine == "vecstack":
        return VecstackEnsemble(learners, meta, wl.kind == "reg", wl.proba,
                                prop)
    raise ValueError("unknown engine %r" % engine)


def engine_oof(engine, est, wl):
    """Out-of-fold predictions of the base layer, learner blocks in order,
    without propagated columns; None if the engine does not expose them."""
    if engine.startswith("mlcore"):
        P = est.oof_predictions_["layer-1"]
        P = P[:, wl.prop:]
        return P.toarray() if sp.issparse(P) else np.asarray(P)
    if engine == "mlxtend":
        return np.asarray(est.train_meta_features_)
    if engine == "vecstack":
        return np.asarray(est.oof_)
    return None


def _oof_block(est, X, proba):
    if proba:
        return est.predict_proba(X)
    return np.asarray(est.predict(X), dtype=np.float64).reshape(-1, 1)


def run_ideal(wl, X, y, Xh, yh, cores, inner):
    """Every (learner x fold) and full fit, and the meta fit, serially.

    Each task is timed on its own, wall (perf_counter) and CPU
    (process_time, one thread: BLAS/OpenMP pinned to 1); slicing the fold
    rows is not counted. With ``inner > 1`` the loop runs ``inner - 1``
    times and the median sums are used."""
    from sklearn.model_selection import KFold
    splits = list(KFold(N_FOLDS).split(np.zeros(X.shape[0])))
    sums, cpus, tasks, oof = [], [], None, None

    def timed(fn):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        return out, time.perf_counter() - t0, time.process_time() - c0

    for _ in range(max(inner - 1, 1)):
        t_tasks, blocks, cpu = [], [], 0.0
        for name, est0 in wl.learners():
            cols = []
            for j, (tr, te) in enumerate(splits):
                Xtr, ytr, Xte = X[tr], y[tr], X[te]
                est = clone(est0)
                pred, t, c = timed(lambda: _oof_block(est.fit(Xtr, ytr), Xte,
                                                      wl.proba))
                t_tasks.append(("%s.fold%d" % (name, j + 1), t))
                cpu += c
                cols.append((te, pred))
            est = clone(est0)
            _, t, c = timed(lambda: est.fit(X, y))
            t_tasks.append(("%s.full" % name, t))
            cpu += c
            block = np.zeros((X.shape[0], cols[0][1].shape[1]))
            for te, pred in cols:
                block[te] = pred
            blocks.append(block)
        S = np.hstack(blocks)
        if wl.prop:
            Z = sp.hstack([X[:, :wl.prop], sp.csr_matrix(S)], format="csr") \
                if sp.issparse(X) else np.hstack([X[:, :wl.prop], S])
        else:
            Z = S
        meta = wl.meta()
        _, t, c = timed(lambda: meta.fit(Z, y))
        t_tasks.append(("meta", t))
        cpu += c
        sums.append(sum(t for _, t in t_tasks))
        cpus.append(cpu)
        tasks, oof = t_tasks, S
    total = float(np.median(sums))
    longest = max(t for n, t in tasks if n != "meta")
    meta_t = dict(tasks)["meta"]
    return {"fit_times": [total / cores], "serial": total,
            "cpu_times": [float(np.median(cpus))],
            "lb": max(total / cores, longest + meta_t),
            "longest": max(tasks, key=lambda t: t[1] if t[0] != "meta"
                           else -1), "n_tasks": len(tasks)}, oof


def run_reference(wl, X, y, n_jobs):
    """scikit-learn's cross_val_predict(cv=KFold(5)) for every learner."""
    from sklearn.model_selection import KFold, cross_val_predict
    blocks = []
    for name, est in wl.learners():
        p = cross_val_predict(est, X, y, cv=KFold(N_FOLDS), n_jobs=n_jobs,
                              method="predict_proba" if wl.proba
                              else "predict")
        blocks.append(np.asarray(p, dtype=np.float64).reshape(X.shape[0], -1))
    return np.hstack(blocks)


def _shutdown_loky():
    try:
        from joblib.externals.loky import reusable_executor
        ex = getattr(reusable_executor, "_executor", None)
        if ex is not None:
            ex.shutdown(wait=True, kill_workers=False)
    except Exception:
        pass


def child_main(spec):
    """Run one engine on one workload; write a JSON result."""
    warnings.filterwarnings("ignore")
    os.environ["PYTHONWARNINGS"] = "ignore"  # loky workers too
    wl = make_workloads(spec["scale"], spec["quick"])[spec["workload"]][0]
    data = spec["data"]
    X, y = _load_arr(data, "X"), _load_arr(data, "y")
    Xh, yh = _load_arr(data, "Xh"), _load_arr(data, "yh")
    engine, n_jobs, cores = spec["engine"], spec["n_jobs"], spec["cores"]
    inner = wl.inner
    out = {"engine": engine, "workload": wl.name}
    oof = None
    if engine == "ideal":
        out["baseline_pss"] = _pss_self()
        out["t_start"] = time.time()
        res, oof = run_ideal(wl, X, y, Xh, yh, cores, inner)
        out["t_end"] = time.time()
        out.update(res)
        if spec.get("save_oof") and spec.get("check"):
            # untimed: scikit-learn's own cross_val_predict, the reference
            np.save(spec["out"] + ".ref.npy",
                    run_reference(wl, X, y, 1 if spec["quick"] else n_jobs))
    else:
        import sklearn  # noqa: F401  (imports out of the timed region)
        est = build_engine(engine, wl, n_jobs, X.shape[1])
        out["baseline_pss"] = _pss_self()
        out["t_start"] = time.time()
        times, cpus = [], []
        for _ in range(inner):
            c0 = tree_cpu()
            t0 = time.perf_counter()
            est.fit(X, y)
            times.append(time.perf_counter() - t0)
            cpus.append(tree_cpu() - c0)
        out["cpu_times"] = cpus
        out["t_end"] = time.time()
        out["fit_times"] = times
        t0 = time.perf_counter()
        pred = est.predict(Xh)
        out["predict_time"] = time.perf_counter() - t0
        if wl.kind == "clf":
            out["score"] = float(np.mean(np.asarray(pred) == yh))
        else:
            from sklearn.metrics import r2_score
            out["score"] = float(r2_score(yh, pred))
        if engine.startswith("mlcore"):
            models = [e for layer in est.layers_
                      for e in layer.estimators_.values()]
            out["models_bytes"] = len(pickle.dumps(models, protocol=5))
            P = est.oof_predictions_["layer-1"]
            out["P_bytes"] = nbytes(P)
            out["P_sparse"] = bool(sp.issparse(P))
        if spec.get("save_oof"):
            oof = engine_oof(engine, est, wl)
    if oof is not None and spec.get("save_oof"):
        np.save(spec["out"] + ".oof.npy", oof)
    _shutdown_loky()
    out["maxrss_self"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out["maxrss_children"] = resource.getrusage(
        resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    with open(spec["out"], "w") as f:
        json.dump(out, f)


###############################################################################
# Parent: schedule, sample memory, report

class TreeSampler(threading.Thread):
    """Samples the PSS (and RSS) sum of a process and its descendants."""

    def __init__(self, pid, interval=0.02, refresh=0.25):
        super().__init__(daemon=True)
        import psutil
        self.proc = psutil.Process(pid)
        self.interval, self.refresh = interval, refresh
        self.samples = []
        self._stop_ev = threading.Event()

    def run(self):
        import psutil
        procs, t_list = [self.proc], 0.0
        while not self._stop_ev.is_set():
            now = time.time()
            if now - t_list >= self.refresh:  # scanning /proc is costly
                try:
                    procs = [self.proc] + self.proc.children(recursive=True)
                except psutil.Error:
                    break
                t_list = now
            pss = rss = 0
            for p in procs:
                try:
                    m = p.memory_full_info()
                    pss += m.pss
                    rss += m.rss
                except psutil.Error:
                    pass
            self.samples.append((time.time(), pss, rss))
            self._stop_ev.wait(self.interval)

    def stop(self):
        self._stop_ev.set()
        self.join()


def run_child(spec, env, interval=0.05):
    spec_json = json.dumps(spec)
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__),
                             "--child", spec_json], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    sampler = None
    try:
        sampler = TreeSampler(proc.pid, interval)
        sampler.start()
    except Exception:
        sampler = None
    stdout, stderr = proc.communicate()
    if sampler is not None:
        sampler.stop()
    if not os.path.exists(spec["out"]):
        return {"error": (stderr or stdout).strip().splitlines()[-1:]
                or ["exit %d" % proc.returncode]}
    with open(spec["out"]) as f:
        res = json.load(f)
    if "error" in res:
        return res
    if sampler is not None and "t_start" in res:
        win = [s for s in sampler.samples
               if res["t_start"] <= s[0] <= res["t_end"]]
        if win:
            res["peak_pss"] = max(s[1] for s in win)
            res["peak_rss"] = max(s[2] for s in win)
    return res


def child_env(engine, threads):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, HERE,
                                         env.get("PYTHONPATH", "")])
    pin = engine in ("ideal", "reference") or threads == "pinned" or (
        threads == "auto" and engine not in MANAGES_THREADS)
    for var in PIN_VARS:
        if pin:
            env[var] = "1"
        else:
            env.pop(var, None)
    return env


def available_engines(engines):
    """Engines whose package imports here; print why the others are
    skipped."""
    ok = []
    mlens = ("import sys; sys.path.insert(0, %r); from tests._mlens import "
             "import_mlens; assert import_mlens(); import mlens.ensemble"
             % ROOT)
    for e in engines:
        mod = {"mlcore-threading": "mlcore.ensemble",
               "mlcore-threading-exclusive": "mlcore.ensemble",
               "mlcore-loky": "mlcore.ensemble", "sklearn": "sklearn.ensemble",
               "mlens-threading": "mlens.ensemble",
               "mlens-multiprocessing": "mlens.ensemble",
               "mlxtend": "mlxtend.classifier", "vecstack": "vecstack"}[e]
        code = mlens if mod.startswith("mlens") else "import %s" % mod
        r = subprocess.run([sys.executable, "-c", code],
                           capture_output=True, text=True,
                           env=child_env("ideal", "pinned"))
        if r.returncode == 0:
            ok.append(e)
        else:
            last = (r.stderr.strip().splitlines() or ["?"])[-1]
            print("SKIP %s: 'import %s' fails here: %s" % (e, mod, last))
    return ok


def med(v):
    v = [x for x in v if x is not None]
    return float(np.median(v)) if v else None


def fmt(x, f="%.3f", none="-"):
    return none if x is None else f % x


MB = 2.0 ** 20


def summarize(wname, wl, runs, engines, cores, n_jobs, budget_info):
    """Print one workload's table; return per-engine summary rows."""
    ideal_runs = [r for r in runs.get("ideal", []) if "fit_times" in r]
    ideal = [r["fit_times"][0] for r in ideal_runs]
    base = runs.get("mlcore-threading", [])
    rows = {}
    warm = wl.inner > 1
    print()
    print("%s  %s" % (wname, wl.desc))
    if ideal_runs:
        r0 = ideal_runs[0]
        print("    n_jobs=%d, cores=%d, repeats=%d; ideal = serial %.3f s / %d"
              " cores = %.3f s (median); lb (critical path) = %.3f s; "
              "longest task %s %.3f s; %d tasks"
              % (n_jobs, cores, len(ideal), med([r["serial"] for r in
                                                  ideal_runs]), cores,
                 med(ideal), med([r["lb"] for r in ideal_runs]),
                 r0["longest"][0], r0["longest"][1], r0["n_tasks"]))
    cold_lbl = "fit s" if not warm else "cold s"
    hdr = ("    %-17s %8s %8s %8s" % ("engine", cold_lbl, "x ideal",
                                      "x mlcore"))
    if warm:
        hdr += " %8s %8s %8s" % ("warm s", "x ideal", "x mlcore")
    hdr += " %7s %6s %5s" % ("cpu s", "x cpu", "util")
    hdr += " %8s %9s %8s %9s %9s  %s" % ("pred s", "peak MB", "dfit MB",
                                         "maxrssMB", "holdout", "check")
    print(hdr)
    for e in ["ideal"] + engines:
        rs = [r for r in runs.get(e, [])]
        good = [r for r in rs if "fit_times" in r]
        if not good:
            errs = [r.get("error") for r in rs if "error" in r]
            print("    %-17s FAILED %s" % (e, errs[:1]))
            continue
        cold = [r["fit_times"][0] for r in good]

        def ratios(vals_fn, ref_runs):
            out = []
            for i, r in enumerate(rs):
                if i < len(ref_runs) and "fit_times" in r and \
                        "fit_times" in ref_runs[i]:
                    a, b = vals_fn(r), vals_fn(ref_runs[i])
                    if a is not None and b:
                        out.append(a / b)
            return med(out)

        cold_fn = (lambda r: r["fit_times"][0])
        warm_fn = (lambda r: med(r["fit_times"][1:])
                   if len(r["fit_times"]) > 1 else r["fit_times"][0])
        ideal_rs = runs.get("ideal", [])
        row = {"cold": med(cold),
               "x_ideal": ratios(cold_fn, ideal_rs),
               "x_mlcore": ratios(cold_fn, base) if e != "ideal" else None}
        if warm:
            row["warm"] = med([warm_fn(r) for r in good])
            row["x_ideal_w"] = ratios(warm_fn, ideal_rs)
            row["x_mlcore_w"] = ratios(warm_fn, base) if e != "ideal" \
                else None
        row["cpu"] = med([r["cpu_times"][0] for r in good
                          if r.get("cpu_times")])
        ideal_cpu = med([r["cpu_times"][0] for r in ideal_runs
                         if r.get("cpu_times")])
        row["x_cpu"] = row["cpu"] / ideal_cpu if row["cpu"] is not None \
            and ideal_cpu else None
        row["util"] = med([r["cpu_times"][0] / r["fit_times"][0]
                           for r in good if r.get("cpu_times")
                           and r["fit_times"][0] > 0 and e != "ideal"])
        row["pred"] = med([r.get("predict_time") for r in good])
        row["peak"] = med([r.get("peak_pss") for r in good])
        row["dfit"] = med([r["peak_pss"] - r["baseline_pss"] for r in good
                           if "peak_pss" in r and "baseline_pss" in r])
        row["maxrss"] = med([max(r.get("maxrss_self", 0),
                                 r.get("maxrss_children", 0)) for r in good])
        row["score"] = med([r.get("score") for r in good])
        row["models_bytes"] = med([r.get("models_bytes") for r in good])
        row["P_bytes"] = med([r.get("P_bytes") for r in good])
        row["P_sparse"] = any(r.get("P_sparse") for r in good)
        row["check"] = budget_info.get("checks", {}).get(e, "")
        rows[e] = row
        line = "    %-17s %8s %7sx %7sx" % (
            e if e != "vecstack" else "vecstack(serial)",
            fmt(row["cold"]), fmt(row["x_ideal"], "%.2f"),
            fmt(row["x_mlcore"], "%.2f"))
        if warm:
            line += " %8s %7sx %7sx" % (fmt(row["warm"], "%.4f"),
                                        fmt(row["x_ideal_w"], "%.2f"),
                                        fmt(row["x_mlcore_w"], "%.2f"))
        line += " %7s %5sx %5s" % (fmt(row["cpu"], "%.2f"),
                                   fmt(row["x_cpu"], "%.2f"),
                                   fmt(row["util"], "%.2f"))
        line += " %8s %9s %8s %9s %9s  %s" % (
            fmt(row["pred"]), fmt(row["peak"] and row["peak"] / MB, "%.0f"),
            fmt(row["dfit"] and row["dfit"] / MB, "%.0f"),
            fmt(row["maxrss"] and row["maxrss"] / MB, "%.0f"),
            fmt(row["score"], "%.4f"), row["check"])
        print(line)
    return rows


def compare_oof(work, wname, wl, engines):
    """Max abs difference of each engine's OOF from the reference."""
    ref_f = os.path.join(work, "%s.ideal.0.json.ref.npy" % wname)
    out = {}
    if not os.path.exists(ref_f):
        return out
    ref = np.load(ref_f)
    for e in ["ideal"] + engines:
        f = os.path.join(work, "%s.%s.0.json.oof.npy" % (wname, e))
        if not os.path.exists(f):
            continue
        a = np.load(f)
        if a.shape != ref.shape:
            out[e] = "oof shape %s != %s" % (a.shape, ref.shape)
            continue
        d = float(np.max(np.abs(a - ref))) if a.size else 0.0
        bad = ""
        if d > 1e-8:
            names = [n for n, _ in wl._learners()]
            width = a.shape[1] // len(names)
            bad = " in " + ",".join(
                n for i, n in enumerate(names)
                if np.max(np.abs(a[:, i * width:(i + 1) * width]
                                 - ref[:, i * width:(i + 1) * width])) > 1e-8)
        out[e] = "oof %s (max|d|=%.1e%s)" % ("==" if d <= 1e-8 else "DIFF",
                                             d, bad)
    return out


def check_targets(results, cores, n_jobs):
    """The engine targets, on the measured medians: W1/W2 within 1.05x of
    the ideal and faster than every other engine (ML-Ensemble included), W3
    within 1.15x with a peak no higher than the serial loop's, W4 never
    slower than the serial loop (the ideal engine's serial sum)."""
    print()
    print("Targets, n_jobs=%d on %d cores:" % (n_jobs, cores))
    lines = []

    def say(ok, text):
        mark = "-" if ok is None else ("ok" if ok else "MISS")
        lines.append((ok, text))
        print("  %-4s %s" % (mark, text))

    for wname, rows in results.items():
        mls = [e for e in ("mlcore-threading", "mlcore-loky") if e in rows]
        if not mls:
            continue
        # the exclusive engine is mlcore's own baseline, not a competitor
        others = [e for e in rows if e not in mls and e not in
                  ("ideal", "mlcore-threading-exclusive")]
        ideal = rows.get("ideal", {})
        for m in mls:
            r = rows[m]
            if wname == "W4":
                serial = ideal.get("cold") and ideal["cold"] * cores
                for tag, key in (("cold", "cold"), ("warm", "warm")):
                    if r.get(key) is not None and serial:
                        say(r[key] <= serial, "W4 %s %s: %.3f s vs serial "
                            "loop %.3f s (target: not slower)"
                            % (m, tag, r[key], serial))
            if wname in ("W1", "W2", "W3") and r.get("x_ideal") is not None:
                limit = 1.15 if wname == "W3" else 1.05
                say(r["x_ideal"] <= limit, "%s %s: %.2fx ideal (target <= "
                    "%.2fx)" % (wname, m, r["x_ideal"], limit))
            if wname in ("W1", "W2"):
                slower = [(e, rows[e]["cold"]) for e in others
                          if rows[e].get("cold") is not None and
                          rows[e]["cold"] <= r["cold"]]
                say(not slower, "%s %s: faster than every other engine%s"
                    % (wname, m, "" if not slower else " -- not faster than "
                       + ", ".join("%s (%.2f s vs %.2f s)" % (e, t, r["cold"])
                                   for e, t in slower)))
            if wname == "W3" and r.get("peak") and ideal.get("peak"):
                say(r["peak"] <= ideal["peak"], "W3 %s: peak %.0f MB vs "
                    "serial loop %.0f MB (target: not higher)"
                    % (m, r["peak"] / MB, ideal["peak"] / MB))
            if wname == "W3":
                say(r.get("P_sparse"), "W3 %s: layer output stays sparse "
                    "(no densification of X)" % m)
    return lines


def memory_budgets(results, budgets, n_jobs):
    print()
    print("Memory budget: dfit <= 1.1 x (P + n_jobs x training fold "
          "+ fitted models); X is loaded before the fit, so it is in the "
          "baseline, not in dfit:")
    print("  (learners' own temporaries are not in that formula: 'serial' is "
          "the ideal's dfit, one learner at a time on a copied fold, and the "
          "second budget is 1.1 x (P + models + n_jobs x serial))")
    for wname, rows in results.items():
        b = budgets.get(wname)
        if b is None:
            continue
        serial = (rows.get("ideal") or {}).get("dfit")
        for m in ("mlcore-threading", "mlcore-loky"):
            r = rows.get(m)
            if r is None or r.get("dfit") is None:
                continue
            fixed = (r.get("P_bytes") or 0) + (r.get("models_bytes") or 0)
            budget = 1.1 * (fixed + n_jobs * b["fold"])
            ok = r["dfit"] <= budget
            line = ("  %-4s %s %s: dfit %.1f MB vs budget %.1f MB (X %.1f MB, "
                    "fold %.1f MB, P %.1f MB, models %.1f MB)"
                    % ("ok" if ok else "MISS", wname, m, r["dfit"] / MB,
                       budget / MB, b["X"] / MB, b["fold"] / MB,
                       (r.get("P_bytes") or 0) / MB,
                       (r.get("models_bytes") or 0) / MB))
            if serial is not None:
                b2 = 1.1 * (fixed + n_jobs * max(serial, 0))
                line += "; serial %.1f MB -> budget %.1f MB: %s" % (
                    serial / MB, b2 / MB, "ok" if r["dfit"] <= b2 else "MISS")
            print(line)


def plot(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as exc:
        print("no plot: matplotlib unavailable (%s)" % exc)
        return
    wnames = list(results)
    engines = sorted({e for r in results.values() for e in r if e != "ideal"},
                     key=lambda e: (ENGINES + EXTRA_ENGINES).index(e))
    fig, ax = plt.subplots(figsize=(2 + 1.8 * len(wnames), 4))
    width = 0.8 / max(len(engines), 1)
    for i, e in enumerate(engines):
        vals = [results[w].get(e, {}).get("x_ideal") or 0 for w in wnames]
        ax.bar(np.arange(len(wnames)) + i * width, vals, width, label=e)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(wnames)) + 0.4 - width / 2)
    ax.set_xticklabels(wnames)
    ax.set_ylabel("fit wall time / ideal (log)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print("plot: %s" % path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="scaled-down smoke run (< 2 min on 2 cores)")
    parser.add_argument("--workloads", default="W1,W2,W3,W4")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--repeats", type=int, default=None,
                        help="interleaved repeats (default 3; 1 with --quick)")
    parser.add_argument("--scale", type=float, default=None,
                        help="fraction of the full row counts (default 1; "
                        "with --quick %s); W4 keeps its size" % QUICK_SCALE)
    parser.add_argument("--n-jobs", type=int, default=None,
                        help="workers for every engine (default: cores)")
    parser.add_argument("--threads", choices=("auto", "pinned", "free"),
                        default="auto")
    parser.add_argument("--no-check", action="store_true",
                        help="skip the cross_val_predict reference (run "
                        "untimed in the ideal's subprocess)")
    parser.add_argument("--plot", default=None, help="PNG of the ratios")
    parser.add_argument("--json", default=None, help="write results here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        if __name__ == "__main__":
            # Estimator classes must come from an importable module, not
            # __main__, so that workers can unpickle them.
            sys.path.insert(0, HERE)
            import ensembles
            return ensembles.main(argv)
        try:
            child_main(json.loads(args.child))
        except BaseException as exc:
            import traceback
            traceback.print_exc()
            spec = json.loads(args.child)
            with open(spec["out"], "w") as f:
                json.dump({"error": ["%s: %s" % (type(exc).__name__,
                                                 str(exc)[:300])]}, f)
            return 1
        return 0
    try:
        import psutil  # noqa: F401
    except ImportError:
        sys.exit("benchmarks/ensembles.py needs psutil (pip install psutil)")
    t_all = time.perf_counter()
    cores = n_cores()
    n_jobs = args.n_jobs or cores
    repeats = args.repeats or (1 if args.quick else 3)
    scale = args.scale
    wnames = [w.strip().upper() for w in args.workloads.split(",") if w]
    engines = available_engines([e.strip() for e in args.engines.split(",")
                                 if e.strip()])
    wls = make_workloads(scale, args.quick)
    print("ensembles benchmark: python %s, numpy %s, scipy %s, cores %d, "
          "n_jobs %d, scale %s, repeats %d, threads %s%s"
          % (sys.version.split()[0], np.__version__,
             __import__("scipy").__version__, cores, n_jobs,
             scale if scale is not None else (
                 "quick %s" % QUICK_SCALE if args.quick else 1), repeats,
             args.threads, " (quick)" if args.quick else ""))
    versions = {}
    for mod in ("sklearn", "mlxtend", "vecstack", "joblib"):
        try:
            versions[mod] = getattr(__import__(mod), "__version__", "?")
        except Exception:
            pass
    print("versions: " + ", ".join("%s %s" % kv for kv in versions.items()))
    print("threads pinned to 1 by env for: %s"
          % ", ".join(e for e in ["ideal"] + engines
                      if "OMP_NUM_THREADS" in child_env(e, args.threads)))
    sys.stdout.flush()
    work = tempfile.mkdtemp(prefix="mlcore_bench_")
    results, budgets, all_runs = {}, {}, {}
    try:
        datas = {}
        for w in wnames:
            wl, gen = wls[w]
            d = os.path.join(work, w)
            os.mkdir(d)
            X, y, Xh, yh = gen()
            for name, a in (("X", X), ("y", y), ("Xh", Xh), ("yh", yh)):
                _save(d, name, a)
            n = X.shape[0]
            fold_rows = n - n // N_FOLDS
            budgets[w] = {"X": nbytes(X),
                          "fold": nbytes(X) * fold_rows / float(n)}
            datas[w] = d
            del X, y, Xh, yh
        jobs = ["ideal"] + engines
        runs = {w: {e: [] for e in jobs} for w in wnames}
        for r in range(repeats):
            for w in wnames:
                order = jobs[r % len(jobs):] + jobs[:r % len(jobs)]
                for e in order:
                    spec = {"workload": w, "engine": e, "data": datas[w],
                            "n_jobs": n_jobs, "cores": cores, "scale": scale,
                            "quick": args.quick, "save_oof": r == 0,
                            "check": not args.no_check,
                            "out": os.path.join(work, "%s.%s.%d.json"
                                                % (w, e, r))}
                    t0 = time.perf_counter()
                    res = run_child(spec, child_env(e, args.threads),
                                    0.1 if args.quick else 0.05)
                    runs[w][e].append(res)
                    print("  [%s r%d %-16s] %s (%.1f s wall incl. start-up)"
                          % (w, r, e, "error: %s" % res["error"]
                             if "error" in res else
                             "fit " + " ".join("%.3f" % t for t in
                                               res["fit_times"]),
                             time.perf_counter() - t0))
                    sys.stdout.flush()
        for w in wnames:
            info = {"checks": compare_oof(work, w, wls[w][0], engines)}
            rows = summarize(w, wls[w][0], runs[w], engines, cores, n_jobs,
                             info)
            base = rows.get("mlcore-threading", {}).get("score")
            if base is not None:
                tol = 0.005
                for e, row in rows.items():
                    if e == "ideal" or row.get("score") is None:
                        continue
                    d = row["score"] - base
                    row["check"] = (row["check"] + "; " if row["check"]
                                    else "") + ("holdout %s (%+.4f)" % (
                                        "ok" if abs(d) <= tol else "DIFF", d))
            print("    checks: " + "; ".join(
                "%s: %s" % (e, row["check"]) for e, row in rows.items()
                if row.get("check")))
            results[w] = rows
            all_runs[w] = runs[w]
        check_targets(results, cores, n_jobs)
        memory_budgets(results, budgets, n_jobs)
        if args.plot:
            plot(results, args.plot)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"results": results, "runs": all_runs,
                           "cores": cores, "n_jobs": n_jobs, "scale": scale,
                           "repeats": repeats}, f, indent=1, default=str)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\ntotal %.1f s" % (time.perf_counter() - t_all))
    return 0


if __name__ == "__main__":
    sys.exit(main())
