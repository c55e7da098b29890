"""Test helpers for code built on :mod:`mlcore.parallel`
(ML-Ensemble's ``mlens.testing``), kept for compatibility.

ML-Ensemble's test suites, and those of packages that extended it, check
learners and layers against a ground truth worked out with plain
scikit-learn calls on transparent estimators
(:mod:`mlcore.utils.dummy`):

* :class:`Data` makes the data (``get_data``) and the ground truth
  (``ground_truth``): the out-of-fold predictions and the predictions of
  the full fits, fold by fold, with the coefficients of every fit;
* :class:`EstimatorContainer` builds the learners, layers and ensembles
  under test;
* :func:`get_learner` / :func:`run_learner` and :func:`get_layer` /
  :func:`run_layer` run one job (``'fit'``, ``'predict'``,
  ``'transform'``) and assert its output and coefficients equal the ground
  truth;
* :class:`InitMixin` gives an ensemble class a ready-made architecture, so
  that scikit-learn's ``check_estimator`` can build it without arguments.

Unlike ML-Ensemble, the helpers never create or delete anything in the
working directory: caches on disk are new temporary directories, removed
afterwards. For tests of new code, compare an ensemble with
``sklearn.model_selection.cross_val_predict`` instead.

Examples
--------
>>> from mlcore.testing import get_layer, run_layer
>>> run_layer(*get_layer('fit', 'threading', 'stack', False, True))
"""
import inspect
import shutil
import tempfile

import numpy as np
from sklearn.base import clone

from ._compat import submodule
from .backend import ParallelProcessing
from .estimators import LayerEnsemble
from .index import INDEXERS
from .parallel import Layer, Learner, Pipeline, Transformer, make_group
from .utils.dummy import OLS, LogisticRegression, Scale

__all__ = ["Data", "EstimatorContainer", "get_learner", "run_learner",
           "get_layer", "run_layer", "InitMixin"]

# The architectures under test: two preprocessing cases ('no' without
# transformers) with two learners each, or four learners without cases.
PREPROCESSING = {"no": [], "sc": [("scale", Scale())]}
ESTIMATORS = {case: [("offs", OLS(offset=2)), ("null", OLS())]
              for case in ("sc", "no")}
ESTIMATORS_PROBA = {case: [("offs", LogisticRegression(offset=2)),
                           ("null", LogisticRegression())]
                    for case in ("sc", "no")}
ECM = [("ols-%d" % i, OLS(offset=i)) for i in range(4)]
ECM_PROBA = [("lr-%d" % i, LogisticRegression(offset=i)) for i in range(4)]


def _squared_error(y, p):
    """The learners' scorer (ML-Ensemble named it ``mae``)."""
    return np.mean((y - p) ** 2)


def _indexer(kls, args, kwargs):
    """An indexer of kind ``kls`` (a key of
    :data:`mlcore.index.INDEXERS`), built from ``args`` and those
    ``kwargs`` it takes; returns it and the other kwargs."""
    cls = INDEXERS[kls]
    accepted = inspect.signature(cls).parameters
    own = {k: kwargs.pop(k) for k in list(kwargs) if k in accepted}
    return cls(*args, **own), kwargs


def _architecture(proba, preprocessing, is_learner):
    """``(estimators, preprocessing)`` dicts of the architecture under test
    (case None: no preprocessing)."""
    est = LogisticRegression() if proba else OLS()
    if is_learner:
        if preprocessing:
            return {"sc": [("est", est)]}, {"sc": [("scale", Scale())]}
        return {None: [("ols", est)]}, {None: []}
    if preprocessing:
        return (ESTIMATORS_PROBA if proba else ESTIMATORS), PREPROCESSING
    return {None: ECM_PROBA if proba else ECM}, {None: []}


def _fit_one(est, steps, X_train, y_train, X_test, attr):
    """Fit clones of the preprocessing ``steps`` and of ``est`` on the
    training rows; return the fitted estimator and its ``attr``
    predictions of ``X_test``."""
    for _, step in steps:
        step = clone(step)
        X_train = step.fit_transform(X_train)
        X_test = step.transform(X_test)
    fitted = clone(est).fit(X_train, y_train)
    return fitted, getattr(fitted, attr)(X_test)


class Data(object):
    """Data and ground truth for one architecture.

    Parameters
    ----------
    cls : str
        The indexer: a key of :data:`mlcore.index.INDEXERS` (``'stack'``,
        ``'blend'``, ``'subsemble'``, ``'temporal'``, ``'full'``, ...).
    proba : bool
        Classification with class probabilities (else regression).
    preprocessing : bool
        Preprocessing cases (``'sc'``: :class:`~mlcore.utils.dummy.Scale`,
        ``'no'``: none).
    is_learner : bool, default=False
        One learner (else the learners of a layer).
    *args, **kwargs
        Given to the indexer.

    Attributes
    ----------
    indexer : indexer
    classes_ : int
        Columns per learner (the number of classes with ``proba``, else 1),
        set by :meth:`ground_truth`.
    n_pred : int
        Learners times partitions, set by :meth:`ground_truth`.
    """

    def __init__(self, cls, proba, preprocessing, is_learner=False, *args,
                 **kwargs):
        self.cls = cls
        self.proba = proba
        self.preprocessing = preprocessing
        self.lr = is_learner
        self.indexer = INDEXERS[cls](*args, **kwargs)

    def get_data(self, shape, m):
        """``X`` holding ``1, 2, ...`` row by row, and ``y``.

        Parameters
        ----------
        shape : tuple of int
            ``(n_samples, n_features)``.
        m : int
            Regression: ``y`` is a step function, ``10`` on the first ``m``
            rows, ``20`` on the next ``m``, ... (so every fold has its own
            level). Classification: ``y`` is ``0, 1, 0, 1, ...``.

        Returns
        -------
        X, y : ndarray
        """
        n, p = shape
        X = np.arange(1, n * p + 1, dtype=np.float64).reshape(n, p)
        if self.proba:
            return X, np.arange(n) % 2
        return X, 10.0 * (np.arange(n) // m + 1)

    def ground_truth(self, X, y, subsets=1, feature_prop=None):
        """The expected output of a fit and of a prediction.

        Parameters
        ----------
        X, y : ndarray
        subsets : int, default=1
            Partitions of the indexer.
        feature_prop : int, optional
            The first ``feature_prop`` input columns are propagated.

        Returns
        -------
        (F, weights_f), (P, weights_p)
            ``F``: the out-of-fold predictions of the fit (the rows the
            indexer predicts, from its first test row); ``P``: the
            predictions of the full fits; the ``weights`` are the
            coefficients of each fit, in the order the learners hold them.
        """
        P, weights_p = self._full_ests(X, y, subsets)
        if feature_prop:
            P = np.hstack([X[:, :feature_prop], P])
        if self.cls == "full":
            return (P, weights_p), (P, weights_p)
        F, weights_f = self._folded_ests(X, y, subsets)
        if feature_prop:
            F = np.hstack([X[X.shape[0] - F.shape[0]:, :feature_prop], F])
        return (F, weights_f), (P, weights_p)

    def _set_up(self, y):
        """The architecture, learner by learner in their order:
        ``[(estimator, steps)]``, the prediction method and the columns per
        learner."""
        ests, prep = _architecture(self.proba, self.preprocessing, self.lr)
        # learners in ML-Ensemble's order: by case, then name
        ordered = sorted((("%s__%s" % (case, name), est, prep[case])
                          for case in ests for name, est in ests[case]),
                         key=lambda entry: entry[0])
        width = len(np.unique(y)) if self.proba else 1
        self.classes_ = width
        self.n_pred = len(ordered) * getattr(self.indexer, "partitions", 1)
        attr = "predict_proba" if self.proba else "predict"
        return [(est, steps) for _, est, steps in ordered], attr, width

    def _folded_ests(self, X, y, subsets):
        learners, attr, width = self._set_up(y)
        folds = list(self.indexer.generate(X, True))
        rows = np.unique(np.hstack([test for _, test in folds]))
        offset = X.shape[0] - rows.shape[0]
        F = np.zeros((rows.shape[0], len(learners) * subsets * width))
        weights = []
        for j, (est, steps) in enumerate(learners):
            for i, (train, test) in enumerate(folds):
                part = i // self.indexer.folds if subsets > 1 else 0
                col = (j * subsets + part) * width
                fitted, p = _fit_one(est, steps, X[train], y[train], X[test],
                                     attr)
                weights.append(fitted.coef_)
                F[test - offset, col:col + width] = p.reshape(len(test), -1)
        return F, weights

    def _full_ests(self, X, y, subsets):
        learners, attr, width = self._set_up(y)
        if subsets == 1:
            parts = [np.arange(X.shape[0])]
        else:
            parts = list(self.indexer.fit(X).partition(as_array=True))
        P = np.zeros((X.shape[0], len(learners) * subsets * width))
        weights = []
        for j, (est, steps) in enumerate(learners):
            for i, train in enumerate(parts):
                col = (j * subsets + i) * width
                fitted, p = _fit_one(est, steps, X[train], y[train], X, attr)
                weights.append(fitted.coef_.tolist())
                P[:, col:col + width] = p.reshape(X.shape[0], -1)
        return P, weights


class EstimatorContainer(object):
    """Builds the learners, layers and ensembles of the architectures of
    :class:`Data`."""

    def get_learner(self, kls, proba, preprocessing, *args, **kwargs):
        """A :class:`~mlcore.parallel.Learner` named ``kls`` and, with
        ``preprocessing``, its :class:`~mlcore.parallel.Transformer`
        (``'sc'``), else None.

        ``args`` and the ``kwargs`` the indexer takes build the indexer of
        kind ``kls``; other ``kwargs`` are ignored.

        Returns
        -------
        (Learner, Transformer or None)
        """
        indexer, _ = _indexer(kls, args, kwargs)
        est = LogisticRegression() if proba else OLS()
        transformer = None
        if preprocessing:
            transformer = Transformer(estimator=Pipeline(Scale(),
                                                         return_y=True),
                                      indexer=indexer, name="sc")
        learner = Learner(estimator=est, indexer=indexer,
                          preprocess="sc" if preprocessing else None,
                          scorer=None if proba else _squared_error,
                          name=kls, proba=proba)
        return learner, transformer

    def _group(self, kls, proba, preprocessing, args, kwargs, name=None):
        indexer, kwargs = _indexer(kls, args, kwargs)
        learner_kwargs = {"proba": kwargs.pop("proba", proba),
                          "scorer": kwargs.pop("scorer", None)}
        if preprocessing:
            ests = ESTIMATORS_PROBA if proba else ESTIMATORS
            prep = PREPROCESSING
        else:
            ests, prep = (ECM_PROBA if proba else ECM), []
        group = make_group(indexer, ests, prep, learner_kwargs=learner_kwargs,
                           name=name)
        return group, kwargs

    def get_layer(self, kls, proba, preprocessing, *args, **kwargs):
        """A :class:`~mlcore.parallel.Layer` named ``'layer'`` (float64
        output) with one group of the architecture; ``kwargs`` the indexer
        does not take go to the layer (``backend``,
        ``propagate_features``, ...), except ``proba`` and ``scorer``,
        which go to the learners."""
        group, kwargs = self._group(kls, proba, preprocessing, args, kwargs,
                                    name="group")
        return Layer(name="layer", dtype=np.float64, **kwargs).push(group)

    def get_layer_estimator(self, kls, proba, preprocessing, *args,
                            **kwargs):
        """The same as :meth:`get_layer`, as a
        :class:`~mlcore.estimators.LayerEnsemble`."""
        group, kwargs = self._group(kls, proba, preprocessing, args, kwargs)
        return LayerEnsemble([group], dtype=np.float64, **kwargs)

    def get_sequential(self, kls, proba, preprocessing, *args, **kwargs):
        """The layer of :meth:`get_layer` (named ``'layer-1'``) in a
        :class:`~mlcore.ensemble.Sequential`."""
        from .ensemble import Sequential
        layer = self.get_layer(kls, proba, preprocessing, *args, **kwargs)
        layer.name += "-1"
        return Sequential().push(layer)

    @staticmethod
    def load_indexer(kls, args, kwargs):
        """The indexer of kind ``kls`` from ``args`` and the ``kwargs`` it
        takes (removed from ``kwargs``); returns ``(indexer, kwargs)``."""
        return _indexer(kls, args, kwargs)


def _cache(on_disk):
    """An estimation cache: a new temporary directory, or an in-memory
    one."""
    return tempfile.mkdtemp(prefix="mlcore-testing-") if on_disk else {}


def _remove(path):
    if isinstance(path, str):
        shutil.rmtree(path, ignore_errors=True)


def _job_args(path, job, X, y, P):
    """The argument dict the nodes' subtasks read (ML-Ensemble's)."""
    fit = job == "fit"
    return {"dir": path, "job": job,
            "auxiliary": {"X": X, "y": y} if fit else {"X": X},
            "main": {"X": X, "y": y, "P": P} if fit else {"X": X, "P": P}}


def _check(P, F, weights, expected):
    np.testing.assert_array_equal(P, F)
    np.testing.assert_array_equal(weights, expected)


def get_learner(case, *args, **kwargs):
    """The arguments of :func:`run_learner` for job ``case``.

    ``args`` are ``(kls, proba, preprocessing)`` of :class:`Data`;
    ``kwargs`` go to the indexer. The data are ``Data.get_data((12, 4),
    2)``.

    Returns
    -------
    tuple
        ``(job, learner, transformer, X, y, F, weights)``.
    """
    data = Data(*args, is_learner=True, **kwargs)
    X, y = data.get_data((12, 4), 2)
    (F, wf), (H, wh) = data.ground_truth(
        X, y, getattr(data.indexer, "partitions", 1))
    data.indexer.fit(X)
    learner, transformer = EstimatorContainer().get_learner(
        *args, classes=data.classes_, **kwargs)
    if case == "predict":
        return "predict", learner, transformer, X, y, H, wh
    return case, learner, transformer, X, y, F, wf


def run_learner(job, learner, transformer, X, y, F, wf=None):
    """Run ``job`` on ``learner`` (after ``transformer``) subtask by
    subtask, as the engine would, and assert the output equals ``F`` and,
    if ``wf`` is given, the fits' coefficients equal ``wf``. A job other
    than ``'fit'`` is preceded by a fit."""
    if job != "fit":
        run_learner("fit", learner, transformer, X, y, F)
    P = np.zeros(F.shape)
    path = _cache(on_disk=True)
    try:
        args = _job_args(path, job, X, y, P)
        if transformer:
            transformer.setup(X, y, job)
            for task in transformer(args, "auxiliary"):
                task()
        learner.setup(X, y, job)
        for task in learner(args, "main"):
            task()
        if job == "fit":
            learner.collect()
            if transformer:
                transformer.collect()
    finally:
        _remove(path)
    if wf is not None:
        fits = learner.sublearners if job != "predict" else learner.learner
        _check(P, F, [f.estimator.coef_ for f in fits], wf)


def get_layer(job, backend, case, proba, preprocess, feature_prop=None,
              **kwargs):
    """The arguments of :func:`run_layer` for ``job``.

    Parameters
    ----------
    job : {'fit', 'predict', 'transform'}
    backend : str
        ``'manual'`` (subtask by subtask) or a joblib backend.
    case, proba, preprocess
        ``(cls, proba, preprocessing)`` of :class:`Data`.
    feature_prop : int, optional
        Propagate the first ``feature_prop`` input columns.
    **kwargs
        Given to the indexer.

    Returns
    -------
    tuple
        ``(job, layer, X, y, F, weights)``.
    """
    data = Data(case, proba, preprocess, **kwargs)
    X, y = data.get_data(shape=(12, 4), m=2)
    (F, wf), (H, wh) = data.ground_truth(
        X, y, getattr(data.indexer, "partitions", 1),
        feature_prop=feature_prop)
    data.indexer.fit(X)
    layer = EstimatorContainer().get_layer(
        kls=case, proba=proba, preprocessing=preprocess, backend=backend,
        propagate_features=range(feature_prop) if feature_prop else None,
        **kwargs)
    if job == "predict":
        return "predict", layer, X, y, H, wh
    return job, layer, X, y, F, wf


def run_layer(job, layer, X, y, F, wf=None):
    """Run ``job`` on ``layer`` and assert its output equals ``F`` and, if
    ``wf`` is given, the fits' coefficients equal ``wf``. With
    ``layer.backend == 'manual'`` the subtasks are run one by one, else by
    :class:`~mlcore.backend.ParallelProcessing`. A job other than
    ``'fit'`` is preceded by a fit."""
    if job != "fit":
        run_layer("fit", layer, X, y, F)
    manual = layer.backend == "manual"
    path = _cache(on_disk=manual or layer.backend != "threading")
    try:
        if manual:
            P = np.zeros(F.shape)
            args = _job_args(path, job, X, y, P)
            layer.setup(X, y, job)
            for transformer in layer.transformers:
                for task in transformer(args, "auxiliary"):
                    task()
            for learner in layer.learners:
                for task in learner(args, "main"):
                    task()
            if job == "fit":
                layer.collect()
        else:
            inputs = (X, y) if job == "fit" else (X,)
            with ParallelProcessing(layer.backend, layer.n_jobs) as engine:
                P = engine.map(layer, job, *inputs, path=path,
                               return_preds=True)
    finally:
        _remove(path)
    if wf is not None:
        fits = [f for lr in layer.learners
                for f in (lr.sublearners if job != "predict" else lr.learner)]
        _check(P, F, [f.estimator.coef_ for f in fits], wf)
        assert isinstance(P, np.ndarray)


class InitMixin(object):
    """Gives an ensemble class an architecture at construction: two
    :class:`~mlcore.utils.dummy.OLS` learners and an ``OLS`` meta learner,
    with ``n_jobs=1``.

    scikit-learn's ``check_estimator`` builds an estimator without
    arguments; an ensemble without layers cannot be fitted. Mix this in
    first and call ``super().__init__()``:

    >>> from mlcore.ensemble import SuperLearner
    >>> class TestSuperLearner(InitMixin, SuperLearner):
    ...     def __init__(self):
    ...         super().__init__()
    >>> len(TestSuperLearner().layers)
    2

    For new code, scikit-learn's ``check_estimator`` takes an instance:
    ``check_estimator(SuperLearner().add([...]).add_meta(...))``.
    """

    def __init__(self):
        super().__init__()
        self.n_jobs = 1
        self.add([OLS(offset=1), OLS(offset=2)])
        self.add_meta(OLS())


# ML-Ensemble's module path, with the architectures' estimators
submodule(__name__, "dummy", __all__ + [
    "PREPROCESSING", "ESTIMATORS", "ESTIMATORS_PROBA", "ECM", "ECM_PROBA"])
