"""Small tasks that follow ML-Ensemble's task protocol, for the backend tests.

They mimic ``mlens.parallel`` layers closely enough to exercise everything the
engine does, while staying tiny:

* ``setup(X, y, job)`` / ``shape(job)`` / ``__call__(args, parallel)``;
* ``__call__`` dispatches subtasks through the ``parallel`` object it is
  handed (joblib ``delayed``, mlcore's ``delayed(fn, check_pickle)``, or raw
  ``(fn, args, kwargs)`` triples);
* subtasks write predictions *in place* into ``args['main']['P']`` (rows and
  columns chosen by the task) and return nothing;
* fitted estimators travel through the cache ``args['dir']`` (pickle files in
  a directory, or ``(name, estimator)`` tuples appended to an in-memory list)
  and are collected by the task after the parallel call, like ML-Ensemble's
  ``collect()``.

By default they are ML-Ensemble tasks and see what ML-Ensemble showed them;
``opt_in=("forward_kwargs", "restore_order")`` (or ``("apply_shuffle",)``
for an evaluation caller) turns on mlcore's protocol fixes, as mlcore's own
layers do. :class:`FaultTask` opts in to ``restore_order``.

Every subtask is a module-level function so that loky and multiprocessing can
pickle it. Tasks record what the engine handed them (in the driver process),
so tests can assert on it.
"""
import gc
import os
import pickle
import signal
import stat

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import StandardScaler

from mlcore import config
from mlcore.backend import delayed
from mlcore.backend import delayed as mlcore_delayed

RESERVED = ("job", "dir", "main", "auxiliary")


class Boom(RuntimeError):
    """Raised by :func:`failing_subtask` (module level: picklable)."""


###############################################################################
# Cache helpers: the same conventions as mlens' _base_functions.save/load

def cache_save(cache, key, obj):
    if isinstance(cache, str):
        with open(os.path.join(cache, key + ".pkl"), "wb") as f:
            pickle.dump(obj, f)
    else:
        cache.append((key, obj))


def cache_load_all(cache, prefix):
    """All cache entries whose key starts with ``prefix + '.'``."""
    out = {}
    if isinstance(cache, str):
        for f in sorted(os.listdir(cache)):
            if f.startswith(prefix + ".") and f.endswith(".pkl"):
                with open(os.path.join(cache, f), "rb") as fh:
                    out[f[:-4]] = pickle.load(fh)
    else:
        for key, obj in list(cache):
            if key.startswith(prefix + "."):
                out[key] = obj
    return out


def cache_load(cache, key):
    if isinstance(cache, str):
        with open(os.path.join(cache, key + ".pkl"), "rb") as fh:
            return pickle.load(fh)
    for k, obj in reversed(list(cache)):
        if k == key:
            return obj
    raise KeyError(key)


def fold_bounds(n, k):
    """Contiguous folds, sized like sklearn.model_selection.KFold(k)."""
    sizes = np.full(k, n // k, dtype=int)
    sizes[: n % k] += 1
    stops = np.cumsum(sizes)
    return [(int(b - s), int(b)) for s, b in zip(sizes, stops)]


def _copy(X):
    if X is None:
        return None
    if sp.issparse(X):
        return X.copy()
    return np.array(X, copy=True)


###############################################################################
# Subtasks (run in the workers)

def fit_subtask(X, y, P, train, test, out_rows, col, est, cache, key,
                preprocess=None):
    """Fit ``est`` on rows ``train``; predict rows ``test`` into
    ``P[out_rows, col]``; store the fitted estimator in the cache."""
    Xtr = X[train]
    if preprocess is not None:
        Xtr = cache_load(cache, preprocess).transform(Xtr)
    est = clone(est).fit(Xtr, y[train])
    if test is not None:
        Xte = X[test]
        if preprocess is not None:
            Xte = cache_load(cache, preprocess).transform(Xte)
        P[out_rows, col] = est.predict(Xte)
    cache_save(cache, key, est)


def predict_subtask(X, P, rows, out_rows, col, est, cache=None,
                    preprocess=None):
    Xte = X[rows]
    if preprocess is not None:
        Xte = cache_load(cache, preprocess).transform(Xte)
    P[out_rows, col] = est.predict(Xte)


def fit_scaler_subtask(X, cache, key):
    cache_save(cache, key, StandardScaler().fit(X))


def failing_subtask(i, fail_at):
    if i == fail_at:
        raise Boom("subtask %d failed" % i)
    return i


def eval_subtask(X, y, train, test, est, cache, key):
    est = clone(est).fit(X[train], y[train])
    err = float(np.mean((est.predict(X[test]) - y[test]) ** 2))
    cache_save(cache, key, err)


###############################################################################
# Tasks

def _describe_args(args):
    """What the task saw in ``args`` (recorded in the driver)."""
    d = args["dir"]
    main = args["main"]
    info = {
        "job": args["job"],
        "keys": sorted(args),
        "main_keys": sorted(main),
        "aux_keys": sorted(args["auxiliary"]),
        "aux_P": args["auxiliary"]["P"],
        "kwargs": {k: v for k, v in args.items() if k not in RESERVED},
        "dir": d,
        "dir_type": type(d),
        "P_type": type(main["P"]),
        "P_is_memmap": isinstance(main["P"], np.memmap),
        "X_type": type(main["X"]),
    }
    if isinstance(d, str):
        root = os.path.dirname(d)
        info["dir_exists"] = os.path.isdir(d)
        info["root"] = root
        info["root_mode"] = stat.S_IMODE(os.stat(root).st_mode)
    return info


TASK_OPT_INS = ("forward_kwargs", "restore_order")
CALLER_OPT_INS = ("forward_kwargs", "apply_shuffle")


def _opt_in(obj, flags, known):
    """Set the protocol opt-in attributes ``flags`` on ``obj``."""
    for flag in flags:
        if flag not in known:
            raise ValueError("unknown opt-in %r" % (flag,))
        setattr(obj, flag, True)


class _Base(object):
    """Common protocol attributes."""

    __no_output__ = False

    def __init__(self, name, estimators=None, dtype=np.float64, shuffle=False,
                 random_state=None, propagate_features=None, dispatch="joblib",
                 preprocess=None, opt_in=()):
        _opt_in(self, opt_in, TASK_OPT_INS)
        self.name = name
        self.estimators = list(estimators) if estimators is not None else [
            ("lr", LinearRegression())]
        if dtype is not None:
            self.dtype = dtype
        self.shuffle = shuffle
        self.random_state = random_state
        self.propagate_features = (list(propagate_features)
                                   if propagate_features is not None else None)
        self.n_feature_prop = (len(self.propagate_features)
                               if self.propagate_features else 0)
        self.dispatch = dispatch
        self.preprocess = preprocess
        self.seen = []    # what setup() received
        self.calls = []   # what __call__ received
        self.fitted_ = {}

    def setup(self, X, y, job):
        self.seen.append({"job": job, "X": _copy(X), "y": _copy(y),
                          "X_type": type(X),
                          "X_is_memmap": isinstance(X, np.memmap)})
        self.n_samples = X.shape[0]

    def _cols(self):
        return [self.n_feature_prop + c for c in range(len(self.estimators))]

    def _run(self, parallel, jobs):
        """Dispatch ``(fn, args)`` pairs in the configured style."""
        if self.dispatch == "joblib":
            return parallel(joblib.delayed(fn)(*a) for fn, a in jobs)
        if self.dispatch == "mlcore":
            return parallel(mlcore_delayed(fn, check_pickle=False)(*a)
                            for fn, a in jobs)
        if self.dispatch == "triple":
            return parallel((fn, a, {}) for fn, a in jobs)
        raise ValueError(self.dispatch)

    def collect(self, cache):
        self.fitted_ = cache_load_all(cache, self.name)


class FoldTask(_Base):
    """A layer with ``FoldIndex(folds)``: fold learners write out-of-fold
    predictions during fit; a full learner (index 0) predicts."""

    def __init__(self, name, folds=3, **kwargs):
        super().__init__(name, **kwargs)
        self.folds = folds

    def shape(self, job):
        return (self.n_samples, self.n_feature_prop + len(self.estimators))

    def __call__(self, args, parallel):
        self.calls.append(_describe_args(args))
        X, P, cache = args["main"]["X"], args["main"]["P"], args["dir"]
        n = X.shape[0]
        job = args["job"]
        jobs = []
        for col, (ename, est) in zip(self._cols(), self.estimators):
            key = "%s.%s" % (self.name, ename)
            if job == "fit":
                y = args["main"]["y"]
                jobs.append((fit_subtask, (X, y, P, np.arange(n), None, None,
                                           col, est, cache, key + ".0",
                                           self.preprocess)))
                for j, (a, b) in enumerate(fold_bounds(n, self.folds), 1):
                    train = np.r_[0:a, b:n]
                    test = np.arange(a, b)
                    jobs.append((fit_subtask, (X, y, P, train, test, test, col,
                                               est, cache, "%s.%d" % (key, j),
                                               self.preprocess)))
            elif job == "predict":
                jobs.append((predict_subtask, (
                    X, P, np.arange(n), np.arange(n), col,
                    self.fitted_[key + ".0"], cache, self.preprocess)))
            elif job == "transform":
                for j, (a, b) in enumerate(fold_bounds(n, self.folds), 1):
                    rows = np.arange(a, b)
                    jobs.append((predict_subtask, (
                        X, P, rows, rows, col, self.fitted_["%s.%d" % (key, j)],
                        cache, self.preprocess)))
        self._run(parallel, jobs)
        if job == "fit":
            self.collect(cache)


class BlendTask(_Base):
    """A layer with ``BlendIndex(test_size, train_size)``: fitted on the
    first ``train_size`` rows, it predicts the next ``test_size`` rows during
    fit (its output has ``test_size`` rows) and all rows when predicting.

    ``offset``: ``None`` (no ``row_offset``: the test rows must be the last
    ones), ``'method'`` (``row_offset(job)``) or ``'int'`` (an int attribute
    set by ``setup``).
    """

    def __init__(self, name, test_size, train_size=None, offset=None,
                 **kwargs):
        super().__init__(name, **kwargs)
        self.test_size = test_size
        self.train_size = train_size
        self.offset = offset
        if offset == "method":
            self.row_offset = self._row_offset

    def setup(self, X, y, job):
        super().setup(X, y, job)
        n = X.shape[0]
        self.n_train = (n - self.test_size if self.train_size is None
                        else self.train_size)
        if self.offset == "int":
            self.row_offset = self.n_train if job == "fit" else 0

    def _row_offset(self, job):
        return self.n_train if job == "fit" else 0

    def shape(self, job):
        rows = self.test_size if job == "fit" else self.n_samples
        return (rows, self.n_feature_prop + len(self.estimators))

    def __call__(self, args, parallel):
        self.calls.append(_describe_args(args))
        X, P, cache = args["main"]["X"], args["main"]["P"], args["dir"]
        n = X.shape[0]
        jobs = []
        for col, (ename, est) in zip(self._cols(), self.estimators):
            key = "%s.%s.0" % (self.name, ename)
            if args["job"] == "fit":
                train = np.arange(self.n_train)
                test = np.arange(self.n_train, self.n_train + self.test_size)
                jobs.append((fit_subtask, (X, args["main"]["y"], P, train, test,
                                           np.arange(self.test_size), col, est,
                                           cache, key)))
            else:
                jobs.append((predict_subtask, (X, P, np.arange(n),
                                               np.arange(n), col,
                                               self.fitted_[key])))
        self._run(parallel, jobs)
        if args["job"] == "fit":
            self.collect(cache)


class ScalerTask(_Base):
    """A transformer: no output; fits a StandardScaler on
    ``args['auxiliary']`` and leaves it in the (shared) sub-cache for the
    learners. On predict it writes the fitted scaler back into the cache
    (like mlens' ``Cache`` tasks)."""

    __no_output__ = True

    def __init__(self, name="sc"):
        super().__init__(name, dtype=None)

    def shape(self, job):
        raise AssertionError("the engine asked a __no_output__ task for its "
                             "shape")

    def __call__(self, args, parallel):
        self.calls.append(_describe_args(args))
        aux = args["auxiliary"]
        assert aux["P"] is None
        key = self.name + ".scaler"
        if args["job"] == "fit":
            self._run(parallel, [(fit_scaler_subtask, (aux["X"], args["dir"],
                                                       key))])
            self.collect(args["dir"])
        else:
            cache_save(args["dir"], key, self.fitted_[key])


class NoOutputTask(FoldTask):
    """A fold layer flagged ``__no_output__``: it fits, but has no P."""

    __no_output__ = True

    def shape(self, job):
        raise AssertionError("shape() of a __no_output__ task")

    def __call__(self, args, parallel):
        assert args["main"]["P"] is None
        self.calls.append(_describe_args(args))
        X, y, cache = args["main"]["X"], args["main"]["y"], args["dir"]
        n = X.shape[0]
        self._run(parallel, [(fit_subtask, (X, y, None, np.arange(n), None,
                                            None, 0, LinearRegression(), cache,
                                            self.name + ".lr.0"))])
        self.collect(cache)


class NoDtypeTask(FoldTask):
    """A FoldTask without a ``dtype`` attribute at all."""

    def __init__(self, name, **kwargs):
        kwargs["dtype"] = None
        super().__init__(name, **kwargs)
        assert not hasattr(self, "dtype")


class FailingTask(_Base):
    """Dispatches four subtasks, the third of which raises :class:`Boom`.

    Records the cache it was handed before failing."""

    def __init__(self, name="boom", fail_at=2, **kwargs):
        super().__init__(name, **kwargs)
        self.fail_at = fail_at

    def shape(self, job):
        return (self.n_samples, 1)

    def __call__(self, args, parallel):
        self.calls.append(_describe_args(args))
        self._run(parallel, [(failing_subtask, (i, self.fail_at))
                             for i in range(4)])


class _RefitNode(object):
    """A learner or transformer node with ML-Ensemble's ``refit`` handling.

    Like ``mlens.parallel.learner.BaseNode.__call__``: a fitted node whose
    ``args`` carry ``refit=True`` pops it and skips the fit; a node without
    output (a transformer) then returns None instead of its subtasks.
    ML-Ensemble's engine never forwarded ``refit``, so this branch only ran
    once an engine did.
    """

    def __init__(self, name, no_output):
        self.name = name
        self.no_output = no_output
        self.fitted = False
        self.n_fits = 0

    def __call__(self, args):
        if args["job"] == "fit" and self.fitted and args.pop("refit", False):
            if self.no_output:
                return None
        return self._subtasks(args)

    def _subtasks(self, args):
        self.fitted = True
        self.n_fits += 1
        return iter([])


class RefitLayer(FoldTask):
    """An ML-Ensemble-style layer: a transformer node and a learner node run
    on the same ``args``, then the fold learners (as :class:`FoldTask`).

    ML-Ensemble's ``Layer`` iterates ``transformer(args, 'auxiliary')``, so
    a transformer that returns None crashes it with ``TypeError: 'NoneType'
    object is not iterable``: what forwarding ``refit=True`` to it does.
    """

    def __init__(self, name, **kwargs):
        super().__init__(name, **kwargs)
        self.transformer = _RefitNode(name + "-tr", no_output=True)
        self.learner = _RefitNode(name + "-lr", no_output=False)

    def __call__(self, args, parallel):
        parallel(joblib.delayed(fn)() for fn in self.transformer(args))
        parallel(joblib.delayed(fn)() for fn in self.learner(args))
        super().__call__(args, parallel)


class Group(object):
    """A caller that yields its tasks (like mlens' Group / Sequential)."""

    def __init__(self, *tasks):
        self.tasks = list(tasks)

    def __iter__(self):
        return iter(self.tasks)


###############################################################################
# ParallelEvaluation caller

class RecordingIndexer(object):
    def __init__(self, folds):
        self.folds = folds
        self.fitted = []

    def fit(self, X, y, job):
        self.fitted.append({"X": _copy(X), "y": _copy(y), "job": job})
        self.n_samples = X.shape[0]
        return self

    def generate(self):
        n = self.n_samples
        for a, b in fold_bounds(n, self.folds):
            yield np.r_[0:a, b:n], np.arange(a, b)


class EvalCaller(object):
    """Like mlens' Evaluator: ``caller(parallel, args, case)``."""

    def __init__(self, folds=3, shuffle=False, random_state=None,
                 est=None, opt_in=()):
        _opt_in(self, opt_in, CALLER_OPT_INS)
        self.indexer = RecordingIndexer(folds)
        self.shuffle = shuffle
        self.random_state = random_state
        self.est = LinearRegression() if est is None else est
        self.calls = []

    def __call__(self, parallel, args, case):
        info = _describe_args(args)
        info["case"] = case
        info["main_P"] = args["main"]["P"]
        self.calls.append(info)
        X, y, cache = args["main"]["X"], args["main"]["y"], args["dir"]
        parallel(joblib.delayed(eval_subtask)(X, y, tr, te, self.est, cache,
                                              "eval.%d" % j)
                 for j, (tr, te) in enumerate(self.indexer.generate()))
        scores = cache_load_all(cache, "eval")
        self.scores_ = [scores["eval.%d" % j] for j in range(len(scores))]


###############################################################################
# Fault injection: a protocol-following task whose subtasks can raise, kill
# or exit their worker, for the fault, security and determinism tests

class InjectedError(ValueError):
    """Stands for whatever an estimator raises; its exact type must reach
    the caller of the processor."""


def _dense(X):
    return X.toarray() if sp.issparse(X) else X


def _rows(X, idx):
    return X.tocsr()[idx] if sp.issparse(X) else X[idx]


def _fit_weights(X, y):
    # Deterministic and BLAS-free, so results are bit-identical everywhere.
    Xc = np.array(_dense(X), dtype=np.float64)
    yc = np.array(y, dtype=np.float64)
    return (Xc * yc[:, None]).sum(axis=0) / ((Xc * Xc).sum(axis=0) + 1.0)


def _predict_rows(X, w):
    return (np.array(_dense(X), dtype=np.float64) * w).sum(axis=1)


def _inject(fail, job, fold, driver_pid):
    """Trigger the fault ``fail = (kind, job, fold)`` where it applies."""
    if fail is None:
        return
    kind, when, at = fail
    if when != job or at != fold:
        return
    if kind == "raise":
        if job == "fit":
            raise InjectedError("did not converge: singular design matrix")
        raise ZeroDivisionError("float division by zero")
    if os.getpid() == driver_pid:  # never kill the test process itself
        raise RuntimeError("fault %r must run in a worker process" % kind)
    if kind == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "exit":
        os._exit(3)
    raise AssertionError("unknown fault %r" % (kind,))


def _reraise_as_learner(exc, name, fold, job):
    """What a learner does with an estimator error: the same type, with a
    message naming the learner and the fold."""
    return type(exc)("learner %r, fold %d, job %r: %s" % (name, fold, job, exc))


def _save(cache, key, w):
    if isinstance(cache, str):
        np.save(os.path.join(cache, "%s.npy" % key), w)
    else:
        cache.append((key, w))


def _fit_subtask(name, fold, X, y, P, train, test, col, cache, fail,
                 driver_pid):
    try:
        _inject(fail, "fit", fold, driver_pid)
        w = _fit_weights(_rows(X, train), y[train])
        if test is not None and len(test):
            P[test, col] = _predict_rows(_rows(X, test), w)
        _save(cache, "%s.%d" % (name, fold), w)
    except Exception as exc:
        raise _reraise_as_learner(exc, name, fold, "fit") from exc


def _predict_subtask(name, fold, X, P, rows, col, w, fail, driver_pid):
    try:
        _inject(fail, "predict", fold, driver_pid)
        if len(rows):
            P[rows, col] = _predict_rows(_rows(X, rows), w)
    except Exception as exc:
        raise _reraise_as_learner(exc, name, fold, "predict") from exc


def _collect(cache, key):
    if isinstance(cache, str):
        return np.load(os.path.join(cache, "%s.npy" % key))
    return dict(cache)[key]


class FaultTask(object):
    """A K-fold "learner": fold 0 fits on all rows, folds 1..K fit on the
    other folds and write cross-validated predictions of their fold into
    ``P[:, col]``; predict writes ``P[:, col]`` chunk by chunk. Columns
    ``[0, n_feature_prop)`` are left to the engine's feature propagation.
    Its shuffled outputs come back in the caller's row order (an mlcore
    opt-in), as :func:`reference_fit` computes them.
    """

    __no_output__ = False
    restore_order = True

    def __init__(self, name="learner", n_folds=3, fail=None,
                 dtype=np.float64, shuffle=False, random_state=None,
                 setup_error=None, call_error=None, propagate_features=None):
        self.name = name
        self.n_folds = n_folds
        self.fail = fail
        self.dtype = dtype
        self.shuffle = shuffle
        self.random_state = random_state
        self.setup_error = setup_error
        self.call_error = call_error
        self.propagate_features = propagate_features
        self.n_feature_prop = (0 if propagate_features is None
                               else len(propagate_features))

    def setup(self, X, y, job):
        if self.setup_error is not None:
            raise self.setup_error
        shape = getattr(X, "shape", None)
        if shape is None or len(shape) != 2:
            raise ValueError("learner %r: expected a 2-D X, got %s"
                             % (self.name, "shape %r" % (shape,) if shape
                                is not None else type(X).__name__))
        if job == "fit" and (y is None or getattr(y, "shape", None)
                             != (shape[0],)):
            raise ValueError("learner %r: expected y of shape (%d,), got %r"
                             % (self.name, shape[0], getattr(y, "shape", y)))
        self.n = shape[0]

    def shape(self, job):
        return (self.n, self.n_feature_prop + 1)

    def _folds(self):
        return np.array_split(np.arange(self.n), self.n_folds)

    def __call__(self, args, parallel):
        job = args["job"]
        X, P = args["main"]["X"], args["main"]["P"]
        col = self.n_feature_prop
        pid = os.getpid()
        folds = self._folds()
        if job == "fit":
            y = args["main"]["y"]
            everything = np.arange(self.n)
            specs = [(0, everything, None)] + [
                (k, np.setdiff1d(everything, f), f)
                for k, f in enumerate(folds, 1)]
            parallel(delayed(_fit_subtask)(self.name, k, X, y, P, tr, te, col,
                                           args["dir"], self.fail, pid)
                     for k, tr, te in specs)
            if self.call_error is not None:
                raise self.call_error
            self.coef_ = _collect(args["dir"], "%s.0" % self.name)
        else:
            parallel(delayed(_predict_subtask)(self.name, k, X, P, rows, col,
                                               self.coef_, self.fail, pid)
                     for k, rows in enumerate(folds, 1))
            if self.call_error is not None:
                raise self.call_error


def reference_fit(X, y, n_folds=3, random_state=None):
    """What FaultTask's fit must produce, in the caller's row order."""
    n = X.shape[0]
    perm = (np.arange(n) if random_state is None
            else np.random.RandomState(random_state).permutation(n))
    Xs, ys = X[perm], y[perm]
    P = np.zeros(n)
    everything = np.arange(n)
    for f in np.array_split(everything, n_folds):
        tr = np.setdiff1d(everything, f)
        P[f] = _predict_rows(Xs[f], _fit_weights(Xs[tr], ys[tr]))
    out = np.empty(n)
    out[perm] = P
    return out[:, None]


def make_data(n=30, p=4, seed=0):
    rng = np.random.RandomState(seed)
    return rng.standard_normal((n, p)), rng.standard_normal(n)


###############################################################################
# Fixtures and checks

@pytest.fixture(autouse=True)
def _reset_config():
    config.reset()
    yield
    config.reset()


@pytest.fixture
def cache_root(tmp_path):
    """A private tmpdir for engine caches; config.reset() afterwards."""
    root = tmp_path / "mlcore_tmp"
    root.mkdir()
    config.set_tmpdir(root)
    yield root
    config.reset()


def tree(path):
    """Every file and directory under path, relative to it."""
    out = []
    for dirpath, dirnames, filenames in os.walk(path):
        rel = os.path.relpath(dirpath, path)
        out.extend(os.path.normpath(os.path.join(rel, x))
                   for x in dirnames + filenames)
    return sorted(out)


def mapped_files_under(path):
    """Files under path that this process still has memory-mapped."""
    path = os.path.join(os.fspath(path), "")
    try:
        with open("/proc/self/maps") as f:
            return sorted({line.split(None, 5)[-1].strip() for line in f
                           if path in line})
    except OSError:  # pragma: no cover - not Linux
        return []


def assert_clean(root, before=()):
    gc.collect()
    assert tree(root) == sorted(before), "left behind in %s" % root
    assert mapped_files_under(root) == []


def check_reusable(pp, X, y):
    """A failed processor must run the next call normally."""
    P = pp.map([FaultTask("again")], "fit", X, y, return_preds=True)
    np.testing.assert_array_equal(P, reference_fit(X, y))
    pp.clear()



class _RowCounter(object):
    def fit(self, X, y, job):
        self.n = X.shape[0]


class FaultEvalCaller(object):
    """An Evaluator-like caller of ParallelEvaluation: caller(parallel,
    args, case) dispatching fold subtasks through the same parallel."""

    def __init__(self, fail=None):
        self.indexer = _RowCounter()
        self.fail = fail

    def __call__(self, parallel, args, case):
        X, y = args["main"]["X"], args["main"]["y"]
        folds = np.array_split(np.arange(self.indexer.n), 3)
        everything = np.arange(self.indexer.n)
        parallel(delayed(_fit_subtask)("evaluated", k, X, y,
                                       np.zeros((len(everything), 1)),
                                       np.setdiff1d(everything, f), f, 0,
                                       args["dir"], self.fail, os.getpid())
                 for k, f in enumerate(folds, 1))
        self.scores_ = sorted(x for x in (os.listdir(args["dir"])
                                          if isinstance(args["dir"], str)
                                          else dict(args["dir"])))


###############################################################################
# Helpers shared by the fault, kernel and security tests

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _arr(*shape, dtype=np.float64, order="C"):
    a = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    return np.asarray(a, dtype=dtype, order=order)


def _bits_equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return (a.dtype == b.dtype and a.shape == b.shape
            and np.ascontiguousarray(a).tobytes()
            == np.ascontiguousarray(b).tobytes())


def _child_env(root):
    env = dict(os.environ)
    env["MLCORE_TMPDIR"] = str(root)
    env["PYTHONPATH"] = os.pathsep.join(
        [_REPO] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                       if p])
    env.pop("MLCORE_PREFIX", None)
    return env
