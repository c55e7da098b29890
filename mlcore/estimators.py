"""scikit-learn estimators made of one node of :mod:`mlcore.parallel`
(ML-Ensemble's ``mlens.estimators``), kept for compatibility.

* :class:`LearnerEstimator`: an estimator with a cross-validation strategy
  (a :class:`~mlcore.parallel.Learner`);
* :class:`TransformerEstimator`: a preprocessing pipeline with one (a
  :class:`~mlcore.parallel.Transformer`);
* :class:`LayerEnsemble`: groups of them, run as one layer (a
  :class:`~mlcore.parallel.Layer`).

Each builds its node afresh at every ``fit``. ``fit_transform`` and
``transform`` return the out-of-fold predictions (for a transformer: the
out-of-fold transformed input), ``predict`` those of the fits on all rows.

For new code, :mod:`mlcore.ensemble` has the same things at a higher
level: an ensemble without a meta layer (``SuperLearner().add([...])``) is
a layer as a scikit-learn estimator, with out-of-fold predictions in
``oof_predictions_``, and ``sklearn.model_selection.cross_val_predict``
gives one learner's out-of-fold predictions.

Differences from ML-Ensemble
----------------------------
* ``predict`` and ``transform`` after a change of a parameter the fit
  depends on (``estimator``, ``preprocessing``, ``indexer``, ``groups``,
  nested parameters included) raise :class:`~mlcore.exceptions.NotFittedError`
  that names it; ML-Ensemble meant to, but only warned and used the stale
  fit.
* :class:`LayerEnsemble` runs on its ``backend`` and ``n_jobs`` (ML-Ensemble
  ignored them and used the configured default).
"""
from sklearn.base import BaseEstimator as _SklearnBaseEstimator
from sklearn.base import clone

from ._compat import submodule
from .exceptions import LayerSpecificationError, NotFittedError
from .fitstore import Unstable, token
from .parallel import Layer, Pipeline, Transformer, make_group
from .parallel.wrapper import EstimatorMixin

__all__ = ["BaseEstimator", "LearnerEstimator", "TransformerEstimator",
           "LayerEnsemble"]


class BaseEstimator(EstimatorMixin, _SklearnBaseEstimator):
    """What the estimators of this module share: a node built at fit
    (ML-Ensemble's ``mlens.estimators.BaseEstimator``).

    Subclasses set ``_static``, the parameters whose change makes the fit
    stale, and implement ``_make_node()``.
    """

    _static = ()

    def _make_node(self):  # pragma: no cover - every subclass has one
        raise NotImplementedError

    def _build(self):
        self._backend = self._make_node()
        self._fit_params = self._static_token()

    def _static_token(self):
        """A description of the static parameters (None: they cannot be
        described, e.g. they hold a RandomState; then a change is not
        detected)."""
        try:
            return {name: token(getattr(self, name)) for name in self._static}
        except Unstable:
            return None

    def _changed(self):
        """The static parameters changed since the fit."""
        old, new = getattr(self, "_fit_params", None), self._static_token()
        if old is None or new is None:
            return []
        return [name for name in self._static if old[name] != new[name]]

    @property
    def __fitted__(self):
        """Whether the node is fitted, with the current parameters."""
        node = getattr(self, "_backend", None)
        return node is not None and node.__fitted__ and not self._changed()

    def _fitted_node(self):
        node = getattr(self, "_backend", None)
        if node is None or not node.__fitted__:
            raise NotFittedError("this %s is not fitted yet: call fit first"
                                 % type(self).__name__)
        changed = self._changed()
        if changed:
            raise NotFittedError(
                "%s changed since this %s was fitted: call fit again"
                % (", ".join(changed), type(self).__name__))
        return node

    @property
    def data(self):
        """The node's fit-data table (``score-m``, ``ft-m``, ... per
        learner), as :attr:`mlcore.parallel.Learner.data`."""
        return self._fitted_node().data

    @property
    def raw_data(self):
        """The node's per-fold records, as
        :attr:`mlcore.parallel.Learner.raw_data`."""
        return self._fitted_node().raw_data


class LearnerEstimator(BaseEstimator):
    """An estimator fitted on each split of an indexer, with out-of-fold
    predictions (ML-Ensemble's ``mlens.estimators.LearnerEstimator``).

    Kept for compatibility. ``sklearn.model_selection.cross_val_predict``
    gives the same out-of-fold predictions for a plain estimator; in an
    ensemble, use :mod:`mlcore.ensemble`.

    Parameters
    ----------
    estimator : estimator
        Cloned for every fit.
    indexer : indexer or int
        The cross-validation strategy (:mod:`mlcore.index`, e.g.
        ``FoldIndex(5)``).
    verbose : bool or int, default=False
    scorer : callable, optional
        ``scorer(y_true, y_pred)`` of the out-of-fold predictions, in
        :attr:`data`.
    backend : str, optional
        Joblib backend; default :func:`mlcore.config.get_backend`.
    n_jobs : int, default=-1
    dtype : numpy dtype, optional
        Of the predictions; default :func:`mlcore.config.get_dtype`.

    Examples
    --------
    >>> import numpy as np
    >>> from mlcore.index import FoldIndex
    >>> from mlcore.utils.dummy import OLS
    >>> X = np.arange(8.0).reshape(4, 2); y = X[:, 1]
    >>> est = LearnerEstimator(OLS(), FoldIndex(2), dtype=np.float64)
    >>> est.fit_transform(X, y).ravel()  # out of fold
    array([1., 3., 5., 7.])
    >>> est.predict(X[:1]).ravel()  # the fit on all rows
    array([1.])
    """

    _static = ("estimator", "indexer")

    def __init__(self, estimator, indexer, verbose=False, scorer=None,
                 backend=None, n_jobs=-1, dtype=None):
        self.estimator = estimator
        self.indexer = indexer
        self.verbose = verbose
        self.scorer = scorer
        self.backend = backend
        self.n_jobs = n_jobs
        self.dtype = dtype

    def _make_node(self):
        kwargs = {"attr": "predict", "verbose": self.verbose,
                  "scorer": self.scorer, "backend": self.backend,
                  "n_jobs": self.n_jobs, "dtype": self.dtype}
        group = make_group(clone(self.indexer), clone(self.estimator),
                           learner_kwargs=kwargs)
        return group.learners[0]


class TransformerEstimator(BaseEstimator):
    """A preprocessing pipeline fitted on each split of an indexer
    (ML-Ensemble's ``mlens.estimators.TransformerEstimator``).

    Kept for compatibility; ``sklearn.pipeline.make_pipeline`` with
    ``cross_val_predict``-style splits, or the ``preprocessing`` argument of
    an ensemble's ``add``, do the same in new code.

    ``fit_transform`` and ``transform`` return the input transformed out of
    fold (each test part by the pipeline fitted on its training part),
    ``predict`` the input transformed by the pipeline fitted on all rows.

    Parameters
    ----------
    preprocessing : transformer or list of transformers
        Run in order (a list of transformers or of ``(name, transformer)``
        pairs); cloned for every fit.
    indexer : indexer or int
    verbose : bool or int, default=False
    backend : str, optional
    n_jobs : int, default=-1
    dtype : numpy dtype, optional
    """

    _static = ("preprocessing", "indexer")

    def __init__(self, preprocessing, indexer, verbose=False, backend=None,
                 n_jobs=-1, dtype=None):
        self.preprocessing = preprocessing
        self.indexer = indexer
        self.verbose = verbose
        self.backend = backend
        self.n_jobs = n_jobs
        self.dtype = dtype

    def _make_node(self):
        steps = clone(self.preprocessing, safe=False)
        if not isinstance(steps, list):
            steps = list(steps) if isinstance(steps, tuple) else [steps]
        return Transformer(Pipeline(steps, return_y=True),
                           indexer=clone(self.indexer), name="pr",
                           verbose=self.verbose, backend=self.backend,
                           n_jobs=self.n_jobs, dtype=self.dtype)


class LayerEnsemble(BaseEstimator):
    """Groups of learners and transformers run as one layer
    (ML-Ensemble's ``mlens.estimators.LayerEnsemble``).

    Kept for compatibility. An :mod:`mlcore.ensemble` ensemble without a
    meta layer is the same in new code: ``SuperLearner().add(estimators,
    preprocessing)`` fits one layer, and its ``oof_predictions_`` are the
    layer's out-of-fold predictions.

    Parameters
    ----------
    groups : Group or list of Group
        Made with :func:`mlcore.parallel.make_group`; cloned at every fit.
    propagate_features : list of int, optional
        Input columns copied into the first columns of the output.
    shuffle : bool, default=False
        Shuffle the rows before a fit; as in ML-Ensemble the out-of-fold
        predictions then come in the shuffled order.
    n_jobs : int, default=-1
    backend : str, optional
    verbose : bool or int, default=False
    random_state : int, optional
        Seed of the shuffle.
    dtype : numpy dtype, optional
        Of the output; default :func:`mlcore.config.get_dtype`.

    Examples
    --------
    >>> import numpy as np
    >>> from mlcore.index import FoldIndex
    >>> from mlcore.parallel import make_group
    >>> from mlcore.utils.dummy import OLS
    >>> X = np.arange(8.0).reshape(4, 2); y = X[:, 1]
    >>> group = make_group(FoldIndex(2), [OLS(), OLS(offset=1)])
    >>> layer = LayerEnsemble(group, dtype=np.float64)
    >>> layer.fit_transform(X, y)[:, 0]
    array([1., 3., 5., 7.])
    >>> layer.predict(X[:1])  # one column per learner, sorted by name
    array([[1., 2.]])
    """

    _static = ("groups",)

    def __init__(self, groups, propagate_features=None, shuffle=False,
                 n_jobs=-1, backend=None, verbose=False, random_state=None,
                 dtype=None):
        self.groups = groups
        self.propagate_features = propagate_features
        self.shuffle = shuffle
        self.n_jobs = n_jobs
        self.backend = backend
        self.verbose = verbose
        self.random_state = random_state
        self.dtype = dtype

    def _group_list(self):
        """``groups`` as a list (the parameter is stored as given, so that
        ``clone`` works)."""
        return self.groups if isinstance(self.groups, list) else [self.groups]

    def _make_node(self):
        return Layer(propagate_features=self.propagate_features,
                     shuffle=self.shuffle, random_state=self.random_state,
                     verbose=self.verbose, backend=self.backend,
                     n_jobs=self.n_jobs, dtype=self.dtype,
                     stack=clone(self._group_list()))

    def push(self, *groups):
        """Add groups (their names must be new to the layer); returns
        self."""
        stack = self.groups = self._group_list()
        names = [g.name for g in stack]
        for group in groups:
            if group.name in names:
                raise LayerSpecificationError(
                    "the layer already has a group named %r: name the new "
                    "group (make_group(..., name=...))" % group.name)
            names.append(group.name)
        stack.extend(groups)
        return self

    def pop(self, idx):
        """Remove and return group ``idx`` (0-based)."""
        self.groups = self._group_list()
        return self.groups.pop(idx)

    def get_params(self, deep=True):
        """The parameters; with ``deep``, also every learner and
        transformer of the groups under its name, and their parameters as
        ``<name>__<parameter>``."""
        # ``groups`` itself is not expanded: its nodes are, by name
        out = super().get_params(deep=False)
        if deep:
            for group in self._group_list():
                for node in group:
                    out[node.name] = node
                    for key, value in node.get_params(deep=True).items():
                        out["%s__%s" % (node.name, key)] = value
        return out


submodule(__name__, "estimators", __all__)  # ML-Ensemble's path
