"""The ensembles users call: SuperLearner, BlendEnsemble, Subsemble,
SequentialEnsemble and TemporalEnsemble.

Each is a scikit-learn estimator (``get_params``/``set_params``,
``clone``, pickling, tags) built layer by layer with :meth:`add` and
:meth:`add_meta`, as in ML-Ensemble. :meth:`fit` runs every layer through
:class:`mlcore.backend.ParallelProcessing` in ``stack`` mode: each layer is
one flat pool of (learner x fold) fits whose out-of-fold predictions become
the next layer's input.

Whether an ensemble is a classifier or a regressor follows its final (meta)
estimator. Classifiers accept any labels (strings too): ``classes_`` holds
them, and the base learners are fitted on them (their ``classes_`` and
predictions are the user's labels, as are the label columns of
``oof_predictions_``); the numbers a layer passes on are class probabilities
or, for label predictions, the label's position in ``classes_``.
:meth:`predict_proba` works without any flag at :meth:`add` time. Labels
are handled the same way by an ensemble without a meta layer whose last
layer holds only classifiers (a transformer of class probabilities, e.g. the
first step of a Pipeline).

The five ensembles share one base class and differ only in how a layer's
rows are split, so they stay in one module; about a third of its lines are
the docstrings scikit-learn users read with ``help()``. Parameter paths,
column names and table views live in their own modules (``_params``,
``_names``, ``metrics``).

ML-Ensemble's module paths are kept for compatibility:
``mlcore.ensemble.super_learner``, ``.blend``, ``.subsemble``,
``.sequential``, ``.temporal`` and ``.base`` (``BaseEnsemble``,
``Sequential``) hold the same classes as :mod:`mlcore.ensemble`, where new
code imports them.
"""
import copy
import numbers
import threading
import time
import warnings

import numpy as np
import scipy.sparse as sp

from ._compat import submodule as _submodule
from ._spec import check_layer_spec as _check_layer_spec
from ._spec import clone_estimators as _clone_estimators
from ._spec import flat_estimators as _flat_estimators
from ._spec import sparse_facing as _sparse_facing
from . import _lockstep, _progress, _store, config, kernels
from ._names import generated_names, layer_names_out, resolve_columns
from ._params import deep_params, is_layer_key, set_layer_params
from .backend import ParallelProcessing
from .exceptions import (LayerSpecificationError, MissingClassWarning,
                         NotFittedError)
from .fitstore import check_memory
from .fitstore import using as using_store
from .index import (BaseIndex, BlendIndex, ClusteredSubsetIndex, FoldIndex,
                    FullIndex, INDEXERS, SubsetIndex, TemporalIndex,
                    as_rows, make_index, repeat_folds)
from .layer import FitContext, KeptColumns, Layer, LenientScorer, make_group
from .metrics import Data, default_scorer

try:
    from sklearn.base import (BaseEstimator, TransformerMixin, clone,
                              is_classifier, is_regressor)
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.validation import (_check_sample_weight,
                                          check_is_fitted, validate_data)
except ImportError as exc:  # pragma: no cover
    raise ImportError("mlcore.ensemble needs scikit-learn: pip install "
                      "'mlcore[sklearn]'") from exc

__all__ = ["SuperLearner", "BlendEnsemble", "Subsemble",
           "SequentialEnsemble", "TemporalEnsemble", "BaseEnsemble",
           "Sequential", "LayerList", "LayerSpec"]

_LAYER_KWARGS = ("dtype", "shuffle", "random_state", "scorer",
                 "raise_on_exception", "verbose", "refit", "n_repeats",
                 "max_fit_time")


class LayerSpec(object):
    """What :meth:`BaseEnsemble.add` records: an unfitted layer description.

    Parameters
    ----------
    indexer : str, indexer or splitter
        An INDEXERS name with ``indexer_kwargs``, or an indexer / splitter.
    estimators, preprocessing : see :func:`mlcore.layer.make_group`
    proba : bool
    propagate_features : list of int or str, or None
    meta : bool
    indexer_kwargs, layer_kwargs : dict
    """

    def __init__(self, indexer, estimators, preprocessing=None, proba=False,
                 propagate_features=None, meta=False, indexer_kwargs=None,
                 layer_kwargs=None):
        self.indexer = indexer
        self.estimators = estimators
        self.preprocessing = preprocessing
        self.proba = proba
        self.propagate_features = propagate_features
        self.meta = meta
        self.indexer_kwargs = dict(indexer_kwargs or {})
        self.layer_kwargs = dict(layer_kwargs or {})

    def make_indexer(self):
        if isinstance(self.indexer, str):
            try:
                cls = INDEXERS[self.indexer]
            except KeyError:
                raise LayerSpecificationError(
                    "unknown layer class %r; use one of %s"
                    % (self.indexer, sorted(INDEXERS))) from None
            return cls(**self.indexer_kwargs)
        return copy.deepcopy(make_index(self.indexer))

    def final_estimator(self):
        ests = self.estimators
        if isinstance(ests, dict):
            ests = [e for v in ests.values() for e in (v if isinstance(
                v, (list, tuple)) else [v])]
        if not isinstance(ests, (list, tuple)):
            ests = [ests]
        if len(ests) != 1:
            return None
        est = ests[0]
        return est[1] if isinstance(est, tuple) else est

    def __repr__(self):
        return ("LayerSpec(indexer=%r, estimators=%r, preprocessing=%r, "
                "proba=%r, propagate_features=%r, meta=%r)"
                % (self.indexer, self.estimators, self.preprocessing,
                   self.proba, self.propagate_features, self.meta))


class LayerList(list):
    """The list of :class:`LayerSpec` that :meth:`BaseEnsemble.add` builds
    (the ``layers`` parameter): ``ens.layers[0]`` is the first layer as
    added, ``ens.layers.n_layers`` the number of layers (ML-Ensemble's
    name; ``len(ens.layers)`` says the same)."""

    @property
    def n_layers(self):
        return len(self)


class _Layer(Layer):
    """A layer of an ensemble: a :class:`mlcore.layer.Layer` that knows the
    names of its input and output columns (set when the ensemble builds
    it)."""

    feature_names_in_ = None
    _names_out = None

    def get_feature_names_out(self, input_features=None):
        """Names of the layer's output columns: the propagated input
        columns, then ``<learner>`` (one value per row),
        ``<learner>_<class>`` (class probabilities) and, with partitions,
        ``<learner>_p<j>[_<class>]``.

        Parameters
        ----------
        input_features : array-like of str, optional
            Names of the input columns (default: ``feature_names_in_``).

        Returns
        -------
        ndarray of str objects
        """
        if input_features is None:
            return np.asarray(self._names_out, dtype=object).copy()
        return layer_names_out(self, np.asarray(input_features, dtype=object),
                               self.classes)



###############################################################################
# Docstrings: every ensemble documents all its parameters itself

_PARAM_DOCS = {
    "shuffle": """\
shuffle : bool, default=False
    Shuffle the rows (with ``random_state``) before each layer cuts its
    folds or its training part (``add(..., shuffle=)`` per layer). The meta
    layer is never shuffled. Out-of-fold predictions and every output come
    back in the order of ``X``.""",
    "random_state": """\
random_state : int, RandomState or None, default=None
    Seeds the shuffles and, when set, every learner's own ``random_state``
    that is left at None, so that fits are reproducible.""",
    "scorer": """\
scorer : callable or None, default=None
    ``scorer(y_true, y_pred)`` for the scores in :attr:`data`. For
    classification both are the user's labels (``y_pred`` holds class
    probabilities for learners added with ``proba=True``, and for the meta
    learner when the layer before it was added with ``proba=True``, so
    that its score is in the units of the learners it combines). None:
    accuracy (of the predicted labels) for classification, R^2 for
    regression.""",
    "raise_on_exception": """\
raise_on_exception : bool, default=True
    True: a learner that fails on a fold raises a
    :class:`mlcore.layer.LearnerError` naming the learner and the fold.
    False: the learner (an exception, output of the wrong shape or with
    non-finite values, a fit over ``max_fit_time``, a fitted state that
    cannot be pickled on a process backend) is dropped from its layer with
    a :class:`mlcore.exceptions.LearnerFailedWarning`, and the
    ensemble is fitted as if it had never been added (seeds drawn from
    ``random_state`` stay as drawn with it); ``failed_learners_`` and
    :attr:`data` say why. A full fit (on all rows, the one that predicts
    new data) predicts nothing at fit time: its output is checked on a
    sample of up to 16 of its training rows, so that a learner whose full
    fit cannot predict is dropped at fit time rather than failing at
    predict time. A layer whose learners all fail still raises.
    ``add(..., raise_on_exception=)`` per layer.""",
    "max_fit_time": """\
max_fit_time : float, dict or None, default=None
    Seconds one fit of a learner on one fold (with the prediction of the
    fold's held-out rows) may take, and one fit of a preprocessing case; a
    dict gives them per learner, by its name in :attr:`data`, and per
    preprocessing case, by the case's name (others have no budget). A
    learner over its budget fails, and so do all the learners of a case
    over its budget: with ``raise_on_exception=False`` they are dropped,
    else :class:`mlcore.exceptions.LearnerTimeoutError` is raised. On
    process backends (``'loky'``, ``'multiprocessing'``) the worker running
    the fit is stopped once it runs over, with the processes the fit
    started; with ``n_jobs=1`` the fits then run in one worker process
    (started for each pool of fits) rather than in the calling process. A
    running thread cannot be stopped, so on ``'threading'`` and
    ``'sequential'`` the fit is judged when it ends, and the learner's fits
    that have not started are skipped. ``add(..., max_fit_time=)`` per
    layer.""",
    "verbose": """\
verbose : bool or int, default=False
    Print progress: to stdout, as ML-Ensemble did, or to stderr with
    ``verbose >= 10``.""",
    "n_jobs": """\
n_jobs : int or None, default=None
    Workers (``-1``: one per core). None: :func:`mlcore.config.get_n_jobs`
    at every fit and predict (a :func:`mlcore.config_context`,
    ``config.set_n_jobs``, ``MLCORE_N_JOBS``, else -1).""",
    "backend": """\
backend : str or None, default=None
    ``'threading'``, ``'loky'``, ``'sequential'``, ``'multiprocessing'``,
    ``'dask'`` (with a ``distributed.Client``; nothing is written to disk),
    or any joblib backend. None: the backend of an active
    ``joblib.parallel_config`` context, else
    :func:`mlcore.config.get_backend` (``MLCORE_BACKEND``, else
    ``'threading'``).""",
    "refit": """\
refit : bool, default=True
    Fit every learner of a K-fold layer on all its rows (of each partition
    of a subsemble) to predict new data. False: no such fit runs, and new
    data is predicted with the average of the fold models (for classifiers,
    of their class probabilities), saving what is often the largest fit of
    a layer. Applies to the layers of :meth:`add` (``add(..., refit=)`` per
    layer); the meta layer keeps its full fit unless
    ``add_meta(..., refit=False)``.""",
    "n_repeats": """\
n_repeats : int, default=1
    Repeat the folds of every layer of :meth:`add` ``n_repeats`` times,
    each time on a new shuffle of the rows (``RepeatedKFold``, or
    ``RepeatedStratifiedKFold`` for the default stratified folds; the
    shuffles are seeded by the ``random_state`` of a ``KFold`` or
    ``StratifiedKFold`` given as ``folds``, else by the layer's random
    state, drawn from ``random_state``). Every row's out-of-fold prediction is the average
    of its ``n_repeats`` predictions (for classifiers that pass on labels,
    the most probable class of the averaged probabilities), and with
    ``refit=False`` new data is predicted by all ``n_repeats * folds``
    fold models. ``add(..., n_repeats=)`` per layer; the meta layer is not
    repeated unless ``add_meta(..., n_repeats=)``.""",
    "array_check": """\
array_check : None, default=None
    Kept for ML-Ensemble compatibility (where it was deprecated); ignored:
    mlcore always validates ``X`` and ``y`` with scikit-learn's checks.""",
    "model_selection": """\
model_selection : bool, default=False
    ML-Ensemble's model selection mode: ``transform(X, y)`` returns ``(P,
    y)``, with ``y`` cut to the rows ``P`` holds (a blend or temporal
    layer predicts only some of the training rows), so that the ensemble
    can be a preprocessing step of an
    :class:`~mlcore.model_selection.Evaluator`. ``transform(X)`` without
    ``y`` returns ``P`` either way. Whatever the mode, :meth:`transform`
    of the training data replays the fit's out-of-fold predictions and of
    other data predicts with the full fits.""",
    "sample_size": """\
sample_size : int, default=20
    Kept for ML-Ensemble compatibility; ignored. ML-Ensemble recognised
    the training data by a sample of this many rows and columns; mlcore
    compares a digest of every value of ``X``, so no setting is needed.""",
    "layers": """\
layers : list of LayerSpec or None, default=None
    The layers as :meth:`add` records them (unfitted specifications);
    normally left at None and filled by :meth:`add`. Each learner,
    preprocessing step and meta learner is a nested parameter
    ``layer-<k>__<learner>`` (see :meth:`get_params`).""",
    "memory": """\
memory : None, str, os.PathLike, joblib.Memory or FitStore, default=None
    A persistent store of fits (a directory, or a ``joblib.Memory``'s
    location, as scikit-learn's ``Pipeline`` takes it; see
    :mod:`mlcore.fitstore`). Every fold fit and full fit of every learner
    and preprocessing case is stored under a key of everything that decides
    it (the estimator's class and parameters, the exact preprocessing fit it
    follows, its rows, the data's values and layout, mlcore's version) and
    read back by later fits: after adding, removing or changing a learner, a
    fit runs only that learner and the layers after it, with the same
    results as a fit from scratch. The store holds pickles: it is as trusted as the code that
    wrote it. A path that is a file is refused (a ``ValueError`` at
    ``fit``). None: nothing is stored.""",
}

_ATTRIBUTES_DOC = """\
Attributes
----------
layers_ : list of Layer
    The fitted layers, also reachable as ``layer_1``, ``layer_2``, ...
    Each has ``estimators_`` (``{(learner, partition, fold): fitted
    estimator}``; fold 0 is the fit on all its rows, used to predict; a
    layer with ``refit=False`` has none and predicts with the average of
    its fold models), ``splits_``, ``feature_names_in_`` and
    ``get_feature_names_out()``.
oof_predictions_ : dict
    ``{layer name: output at fit}``: each layer's out-of-fold predictions
    (for a blend or temporal layer, of the rows it predicted); the columns
    of classifiers that predict labels hold the user's labels.
final_estimator_ : estimator
    The last layer's fitted learner (the meta learner, fitted on all its
    rows), when that layer has one learner and no partitions.
classes_ : ndarray
    The class labels, for a classification ensemble (``[0, 1]`` for a
    multilabel ``y``).
n_outputs_ : int
    Columns of ``y`` (1 for a 1-D ``y``).
n_features_in_ : int
    Number of columns of ``X`` at fit.
feature_names_in_ : ndarray of str
    Column names of ``X``, when it was a DataFrame with string column
    names.
fit_time_ : float
    Seconds the last :meth:`fit` took.
failed_learners_ : dict
    ``{"<layer>/<learner>": why it failed}`` for the learners dropped at
    fit (``raise_on_exception=False``); empty when none failed.
data : mlcore.metrics.Data
    ML-Ensemble's table of the base learners' out-of-sample scores and
    fit/predict times (a property; ``data['score-m']['layer-1/ridge']``;
    prints as a table, ``pandas.DataFrame(data)`` has a row per learner).
    :meth:`data_table` and :meth:`data_frame` show every layer, the meta
    layer's cross-validated row included."""


def _indent(text, n=4):
    pad = " " * n
    return "\n".join(pad + line if line else line
                     for line in text.splitlines())


def _document(cls):
    """Fill ``%(parameters)s`` and ``%(attributes)s`` in the docstring of
    ensemble class ``cls``: every parameter of its ``__init__``, in order,
    documented by ``cls._param_docs`` or the shared :data:`_PARAM_DOCS`."""
    import inspect
    own = getattr(cls, "_param_docs", {})
    names = [p for p in inspect.signature(cls.__init__).parameters
             if p != "self"]
    params = "\n".join(own.get(p) or _PARAM_DOCS[p] for p in names)
    cls.__doc__ = cls.__doc__ % {
        "parameters": _indent("Parameters\n----------\n" + params),
        "attributes": _indent(_ATTRIBUTES_DOC),
        "see_superlearner": _indent("See Also\n--------\nSuperLearner")}
    return cls


# The parameters every ensemble shares, set by BaseEnsemble.__init__.
_COMMON_PARAMS = ("shuffle", "random_state", "scorer", "raise_on_exception",
                  "verbose", "n_jobs", "backend", "layers", "array_check",
                  "model_selection", "sample_size", "memory",
                  "max_fit_time")


def _common_params(params):
    """The shared parameters out of a subclass ``__init__``'s ``locals()``
    (each subclass keeps its explicit signature, which scikit-learn's
    ``get_params`` reads)."""
    return {name: params[name] for name in _COMMON_PARAMS if name in params}


@_document
class BaseEnsemble(TransformerMixin, BaseEstimator):
    """Common machinery of the ensembles; use one of :class:`SuperLearner`,
    :class:`BlendEnsemble`, :class:`Subsemble`, :class:`TemporalEnsemble`,
    :class:`SequentialEnsemble`.

%(parameters)s

%(attributes)s
    """

    # for ensembles pickled before the parameter existed
    max_fit_time = None

    def __init__(self, shuffle=False, random_state=None, scorer=None,
                 raise_on_exception=True, verbose=False, n_jobs=None,
                 backend=None, layers=None, array_check=None,
                 model_selection=False, sample_size=20, memory=None,
                 max_fit_time=None):
        self.shuffle = shuffle
        self.max_fit_time = max_fit_time
        self.random_state = random_state
        self.scorer = scorer
        self.raise_on_exception = raise_on_exception
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.backend = backend
        self.layers = layers
        self.array_check = array_check
        self.model_selection = model_selection
        self.sample_size = sample_size
        self.memory = memory

    # -- building -----------------------------------------------------------
    def _indexer_for(self, kwargs):
        """(indexer name or object, indexer kwargs) for a new layer: what
        :meth:`add` was given for this layer only. The ensemble's own
        parameters fill in the rest at fit (:meth:`_layer_indexer`), so that
        ``set_params`` after :meth:`add` takes effect."""
        raise NotImplementedError

    def _layer_indexer(self, spec, classification):
        """The indexer of layer ``spec`` for this fit."""
        if spec.meta:
            return self._meta_indexer(classification)
        return spec.make_indexer()

    def _meta_indexer(self, classification):
        """The indexer of the meta layer: one fit on all rows (the ensembles
        whose layers are not K-fold ones). Its in-sample score is not shown
        in :attr:`data`."""
        return FullIndex()

    def add(self, estimators, preprocessing=None, proba=False, meta=False,
            propagate_features=None, **kwargs):
        """Append a layer.

        Parameters
        ----------
        estimators : estimator, list or dict
            The layer's learners: estimators or ``(name, estimator)`` pairs
            (unnamed ones are named by their lower-cased class name); a dict
            maps preprocessing case names to lists of them (``None`` or
            ``'no'``: without preprocessing). Their output columns are in
            ML-Ensemble's order: by name (``'<case>__<name>'`` with a dict),
            whatever the order given.
        preprocessing : list or dict, optional
            Transformers (or ``(name, transformer)`` pairs) fitted on each
            fold before the learners, in order: a list (one case, for every
            learner), or a dict of cases.
        proba : bool, default=False
            Pass class probabilities (one column per class of ``classes_``)
            to the next layer instead of predicted labels.
        meta : bool, default=False
            A meta layer, as :meth:`add_meta` adds it.
        propagate_features : list of int or str, optional
            Input columns copied to the front of the layer's output, for the
            next layer: positions, or names of ``X``'s columns (a DataFrame)
            or of the previous layer's output (``get_feature_names_out``).
        **kwargs
            This layer's own settings of the ensemble's splitting (such as
            ``folds`` for :class:`SuperLearner`, ``test_size`` for
            :class:`BlendEnsemble`, ``partitions`` for :class:`Subsemble`;
            default: the ensemble's, read at fit), and ``dtype``,
            ``shuffle``, ``random_state``, ``scorer``, ``refit`` (False:
            predict with the average of the fold models, no full fit),
            ``n_repeats`` (repeat the folds on new shuffles and average;
            K-fold layers only), ``raise_on_exception`` and
            ``max_fit_time``, as described for the ensemble's parameters
            of those names.

        Returns
        -------
        self

        Raises
        ------
        LayerSpecificationError
            When a learner or a preprocessing step is not what a layer
            needs (the message says what is expected).
        """
        for bad in ("backend", "n_jobs"):
            if bad in kwargs:
                warnings.warn("%s is set on the ensemble, not per layer; "
                              "ignored" % bad, UserWarning, stacklevel=2)
                kwargs.pop(bad)
        layer_kwargs = {k: kwargs.pop(k) for k in list(kwargs)
                        if k in _LAYER_KWARGS}
        _check_bagging(layer_kwargs.get("refit", True),
                       layer_kwargs.get("n_repeats", 1), "add")
        if meta:
            indexer, indexer_kwargs = "full", {}
            kwargs.clear()
        else:
            indexer, indexer_kwargs = self._indexer_for(kwargs)
        if kwargs:
            raise TypeError("add() got unexpected arguments %s" % sorted(kwargs))
        _check_layer_spec(estimators, preprocessing,
                          "layer %d" % (len(self.layers or []) + 1))
        spec = LayerSpec(indexer, estimators, preprocessing, proba,
                         propagate_features, meta, indexer_kwargs, layer_kwargs)
        if self.layers is None:
            self.layers = LayerList()
        self.layers.append(spec)
        return self

    def add_meta(self, estimator, **kwargs):
        """Append the meta layer: the final estimator, fitted on all rows of
        the previous layer's out-of-fold predictions (and, for
        :class:`SuperLearner` and :class:`Subsemble`, cross-validated on the
        ensemble's folds of them for its score in :attr:`data`).

        Parameters
        ----------
        estimator : estimator
        **kwargs
            ``dtype``, ``random_state``, ``scorer`` for this layer, and for
            :class:`SuperLearner` and :class:`Subsemble` (cross-validated
            meta layers) ``refit`` and ``n_repeats``, as for :meth:`add`;
            ``proba=True`` (classification): the meta layer passes on the
            final estimator's class probabilities, so that ``transform``
            returns them, :meth:`predict` their most probable class and
            its score in :meth:`data_table` is that of its probabilities
            (as it is anyway, with a ``scorer`` of yours, when the layer
            before it was added with ``proba=True``).

        Returns
        -------
        self
        """
        return self.add(estimator, meta=True, **kwargs)

    def replace(self, idx, estimators, preprocessing=None, **kwargs):
        """Replace a layer with a new one built like :meth:`add`.

        Parameters
        ----------
        idx : int
            The layer, 0-based (negative counts from the end).
        estimators, preprocessing, **kwargs
            As for :meth:`add`.

        Returns
        -------
        self
        """
        layers = list(self.layers or [])
        if not -len(layers) <= idx < len(layers):
            raise IndexError("no layer %r (the ensemble has %d)"
                             % (idx, len(layers)))
        saved = self.layers
        self.layers = []
        try:
            self.add(estimators, preprocessing, **kwargs)
            spec = self.layers[0]
        finally:
            self.layers = saved
        self.layers[idx] = spec
        return self

    def remove(self, idx):
        """Remove a layer.

        Parameters
        ----------
        idx : int
            The layer, 0-based (negative counts from the end).

        Returns
        -------
        self
        """
        if not self.layers or not -len(self.layers) <= idx < len(self.layers):
            raise IndexError("no layer %r" % (idx,))
        del self.layers[idx]
        return self

    # -- scikit-learn plumbing ----------------------------------------------
    def get_params(self, deep=True):
        """Parameters of the ensemble; with ``deep``, also every learner,
        preprocessing step and meta learner of its layers and their
        parameters, as ``layer-<k>__<learner>[__<param>]`` (the learner
        names of :attr:`data`; ``layer-<k>__<case>__<learner>`` and
        ``layer-<k>__<case>__<step>`` with preprocessing cases, ``pr`` for a
        list of preprocessing steps).

        Parameters
        ----------
        deep : bool, default=True

        Returns
        -------
        dict
        """
        params = super().get_params(deep=deep)
        if deep:
            params.update(deep_params(self.layers))
        return params

    def set_params(self, **params):
        """Set parameters, including the nested ``layer-<k>__...`` ones of
        :meth:`get_params` (``ens.set_params(**{"layer-1__ridge__alpha":
        2.0, "layer-2__logisticregression__C": 0.5})``); a path to a learner
        replaces it (keeping its name).

        Returns
        -------
        self
        """
        layer_params = {k: params.pop(k) for k in list(params)
                        if is_layer_key(k)}
        if params:
            super().set_params(**params)
        if layer_params:
            set_layer_params(self, self.layers, layer_params)
        return self

    @property
    def final_estimator_(self):
        """The fitted estimator of the last layer that predicts new data
        (the meta learner's fit on all rows), as scikit-learn's stacking
        estimators name it. Only defined when the last layer has one learner
        and no partitions; otherwise use ``layers_[-1].estimators_``."""
        check_is_fitted(self, "layers_")
        last = self.layers_[-1]
        keys = list(last.estimators_)
        if len({key[0] for key in keys}) != 1 or any(key[1] for key in keys):
            raise AttributeError(
                "final_estimator_ needs a last layer of one learner without "
                "partitions; see layers_[-1].estimators_, keyed by (learner, "
                "partition, fold), fold 0 being the fit on all rows")
        if (keys[0][0], 0, 0) not in last.estimators_:
            raise AttributeError(
                "final_estimator_: the last layer was fitted with "
                "refit=False, so no fit on all its rows exists; it predicts "
                "with the average of its fold models, "
                "layers_[-1].estimators_")
        return last.estimators_[(keys[0][0], 0, 0)]

    def _final_estimator(self):
        if not self.layers:
            return None
        return self.layers[-1].final_estimator()

    def _is_classifier(self):
        est = self._final_estimator()
        return est is not None and is_classifier(est)

    def _classification(self):
        """Whether y holds class labels (encoded for the learners, kept in
        ``classes_``): the final estimator is a classifier, or every
        estimator of the last layer is (an ensemble without a meta layer,
        used as a transformer, e.g. as a Pipeline step)."""
        if self._is_classifier():
            return True
        ests = _flat_estimators(self.layers[-1].estimators) \
            if self.layers else []
        return bool(ests) and all(is_classifier(e) for e in ests)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        from sklearn.utils import (ClassifierTags, RegressorTags,
                                   TransformerTags)
        tags.input_tags.sparse = self._sparse_refusal() is None
        # transform/fit_transform return the out-of-fold predictions
        tags.transformer_tags = TransformerTags(preserves_dtype=[])
        tags.target_tags.required = True
        est = self._final_estimator()
        if est is not None and is_classifier(est):
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags()
        elif est is not None and is_regressor(est):
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
        return tags

    def __getattr__(self, name):
        # A property that raised AttributeError (NotFittedError is one)
        # lands here: let its own error through.
        prop = getattr(type(self), name, None)
        if isinstance(prop, property):
            return prop.fget(self)
        # layer_1, layer_2, ... : the fitted layers (ML-Ensemble's names).
        if name.startswith("layer_") and name[6:].isdigit():
            layers = self.__dict__.get("layers_")
            k = int(name[6:])
            if layers is not None and 1 <= k <= len(layers):
                return layers[k - 1]
            specs = self.__dict__.get("layers") or []
            if layers is None and 1 <= k <= len(specs):
                raise AttributeError(
                    "%s is the fitted layer %d: call fit first (the layer "
                    "as added is layers[%d])" % (name, k, k - 1))
        raise AttributeError("%r object has no attribute %r"
                             % (type(self).__name__, name))

    def _sparse_refusal(self):
        """None if sparse input can reach every estimator that would see it,
        else the (layer number, estimator) that declares it cannot.

        A layer's estimators see sparse data when the input is sparse and
        every earlier layer propagates features (its output is then sparse
        too). An estimator's scikit-learn tag ``input_tags.sparse`` decides
        (see :func:`_accepts_sparse`); a learner with preprocessing is judged
        by the first preprocessing step (which may densify).
        """
        for i, spec in enumerate(self.layers or []):
            for est in _sparse_facing(spec):
                if not _accepts_sparse(est):
                    return i + 1, est
            if not spec.propagate_features:
                break
        return None

    def _check_sparse(self, X):
        if not sp.issparse(X):
            return
        refusal = self._sparse_refusal()
        if refusal is not None:
            raise TypeError(
                "Sparse data was passed to %s, but %r in layer %d does not "
                "accept sparse input (its scikit-learn tag input_tags.sparse "
                "is False). Convert X with .toarray(), or put a "
                "preprocessing step that accepts sparse input first."
                % (type(self).__name__, refusal[1], refusal[0]))

    # -- fitting ------------------------------------------------------------
    def _log(self, msg):
        if self.verbose:
            progress = _progress.current()
            if progress is not None:  # keeps a tqdm bar intact
                progress.write("[mlcore] %s" % msg)
            else:
                print("[mlcore] %s" % msg, flush=True,
                      file=_progress.verbose_stream(self.verbose, 10))

    def _validate_X(self, X, reset):
        X = _from_file(X)
        _check_structure(X)
        X = validate_data(self, X, reset=reset,
                          accept_sparse=["csr", "csc", "coo"],
                          dtype=[np.float64, np.float32])
        self._check_sparse(X)
        return _as_csr(X) if sp.issparse(X) else X

    def _build_layers(self, classes, n_features, names=None, n_outputs=1):
        """The layers of this fit; ``classes``: the class labels (sorted) of
        a classification fit, else None; ``n_features`` and ``names``: the
        input's columns and their names (None: generated ones);
        ``n_outputs``: the columns of ``y``."""
        named = names is not None
        if names is None:
            names = generated_names(n_features)
        if not self.layers:
            raise LayerSpecificationError(
                "the ensemble has no layers: call add() first")
        rng = np.random.RandomState(self.random_state) \
            if not isinstance(self.random_state, np.random.RandomState) \
            else self.random_state
        built = []
        classification = classes is not None
        # scikit-learn stratifies single-output classification only (as its
        # check_cv does): a multilabel y gets plain K folds
        stratify = classification and n_outputs == 1
        for i, spec in enumerate(self.layers):
            kw = dict(spec.layer_kwargs)
            seed = int(rng.randint(0, 2 ** 31 - 1))
            shuffle = kw.get("shuffle", self.shuffle) and not spec.meta
            random_state = kw.get("random_state", seed)
            # a user's scorer of a meta learner reading class probabilities
            # gets the meta learner's own, as the learners it combines gave
            # theirs (the log-loss of labels is not that of probabilities);
            # the default accuracy scores the labels the ensemble predicts
            user = kw.get("scorer", self.scorer)
            scorer = default_scorer(
                classification, user, classes, proba=user is not None and
                spec.meta and i > 0 and bool(self.layers[i - 1].proba))
            if spec.meta and "scorer" not in kw and scorer.scorer is not None:
                # the base layers' scorer may not fit the meta learner's
                # output: no meta score then, and a warning, not a crash
                scorer = LenientScorer(scorer)
            estimators = _clone_estimators(spec.estimators, self.random_state,
                                           rng)
            if classification:
                estimators = _wrap_regressors(estimators, classes)
            proba = bool(spec.proba) and classification
            refit, n_repeats = self._bagging(spec)
            indexer = self._layer_indexer(spec, stratify)
            refit = _blend_refit(indexer, refit)
            indexer = repeat_folds(indexer, n_repeats, random_state)
            group = make_group(indexer, estimators,
                               _clone_estimators(spec.preprocessing, None, rng),
                               learner_kwargs={"proba": proba})
            if classification and n_outputs == 1:
                _give_classes(group, classes)
            name = "layer-%d" % (i + 1)
            columns = resolve_columns(spec.propagate_features, names,
                                      len(names), name, named_input=named)
            layer = _Layer(name, [group], propagate_features=columns,
                           shuffle=shuffle, random_state=random_state,
                           dtype=_layer_dtype(kw.get("dtype")), scorer=scorer,
                           classes=classes, refit=refit, n_outputs=n_outputs,
                           raise_on_exception=kw.get(
                               "raise_on_exception", self.raise_on_exception),
                           max_fit_time=kw.get("max_fit_time",
                                               self.max_fit_time))
            layer._meta = bool(spec.meta)
            layer.feature_names_in_ = names
            layer._names_out = names = layer_names_out(layer, names, classes)
            if spec.meta and built:
                _bind_meta_names(layer, built[-1])
            named = True  # an earlier layer's output names are known
            built.append(layer)
        _check_budget_names(built)
        return built

    def _bagging(self, spec):
        """(refit, n_repeats) of layer ``spec``: its own settings, else the
        ensemble's for the layers of :meth:`add` (a meta layer keeps one
        full fit and unrepeated folds unless told otherwise)."""
        kw = spec.layer_kwargs
        refit = kw.get("refit", True if spec.meta else
                       getattr(self, "refit", True))
        n_repeats = kw.get("n_repeats", 1 if spec.meta else
                           getattr(self, "n_repeats", 1))
        _check_bagging(refit, n_repeats, type(self).__name__)
        return bool(refit), int(n_repeats)

    def _engine(self):
        # In nested cross-validation or permutation importance, calls run
        # side by side and share one pool of workers (mlcore._lockstep).
        shared = _lockstep.engine()
        if shared is not None:
            return shared
        # backend=None: the backend of an active joblib.parallel_config
        # context, else mlcore.config.get_backend() (see mlcore.backend).
        return ParallelProcessing(self.backend, self.n_jobs, 0)

    def fit(self, X, y, sample_weight=None, groups=None):
        """Fit every layer.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            pandas DataFrames are accepted (``feature_names_in_``).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            A 2-D ``y``: multi-output regression, or multilabel
            classification (0/1 indicator columns); see ``n_outputs_``.
        sample_weight : array-like, optional
            Routed to every base estimator's ``fit``.
        groups : array-like, optional
            Routed to splitters that take groups (e.g. ``GroupKFold``).

        Returns
        -------
        self

        Notes
        -----
        The new fitted state is built aside and replaces the old one only
        when the fit succeeds: a model being refitted keeps predicting with
        its old state meanwhile (from other threads), and a failed refit
        leaves it as it was.
        """
        new = _shadow(self)
        for attr in _fitted_attrs(new):
            del new.__dict__[attr]  # nothing stale in the new state
        new._fit(X, y, sample_weight=sample_weight, groups=groups)
        _adopt(self, new)
        return self

    def _fit(self, X, y, sample_weight=None, groups=None):
        t0 = time.perf_counter()
        if not self.layers:
            raise LayerSpecificationError(
                "the ensemble has no layers: call add() first")
        for i, spec in enumerate(self.layers):
            # set_params may have put anything in place of a learner
            _check_layer_spec(spec.estimators, spec.preprocessing,
                              "layer %d" % (i + 1))
        store = check_memory(self.memory)
        classifier = self._classification()
        # Out-of-fold predictions need at least two rows.
        X, y = _from_file(X), _from_file(y)
        _check_structure(X)
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc", "coo"],
                             dtype=[np.float64, np.float32],
                             y_numeric=not classifier, multi_output=True,
                             ensure_min_samples=2)
        self._check_sparse(X)
        if sp.issparse(X):
            X = _as_csr(X)
        y = _targets(y)
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if classifier and n_outputs > 1:
            y_fit, classes = _multilabel(y, type(self).__name__), \
                np.array([0, 1])
        elif classifier:
            from sklearn.utils.multiclass import check_classification_targets
            check_classification_targets(y)
            classes = np.unique(y)
            if len(classes) < 2:
                raise ValueError(
                    "%s is a classifier and needs samples of at least 2 "
                    "classes in y; got 1 class: %r"
                    % (type(self).__name__, classes[0]))
            # The learners see the user's labels (their classes_, predict
            # speak them); the layers' outputs hold positions in classes.
            y_fit = y
        else:
            y_fit = y.astype(np.float64) if y.dtype.kind in "biu" else y
            classes = None
        n = X.shape[0]
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64)
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape[0] != n:
                raise ValueError("groups has %d entries, X has %d rows"
                                 % (groups.shape[0], n))
        layers = self._build_layers(classes, X.shape[1],
                                    getattr(self, "feature_names_in_", None),
                                    n_outputs)
        _check_outputs(layers, n_outputs)
        ctx = FitContext({"sample_weight": sample_weight, "groups": groups},
                         n=n)
        for layer in layers:
            layer.context = ctx
        self._log("fitting %d layer(s) on %d rows x %d features"
                  % (len(layers), n, X.shape[1]))
        names = [layer.name for layer in layers]
        try:
            display = _progress.Progress(
                type(self).__name__,
                stream=_progress.verbose_stream(self.verbose, 10)) \
                if self.verbose else None
            tasks = _Progress(layers, self._log, display, classes)
            with self._engine() as engine, _progress.reporting(display), \
                    _fit_store(store, engine, sample_weight, groups) as fits:
                preds = engine.stack(tasks, "fit", X, y_fit,
                                     return_preds=names)
            if fits is not None:
                self._log("fit store %s: %d fit(s) read back, %d run"
                          % (store.location, fits.hits, fits.misses))
        finally:
            for layer in layers:
                layer.context = None
        self.layers_ = layers
        self.n_outputs_ = n_outputs
        # a layer that dropped learners is followed by the task that drops
        # their columns, under the same name: its output replaces the
        # layer's
        self.oof_predictions_ = dict(zip(tasks.collected, preds))
        self.failed_learners_ = {
            "%s/%s" % (layer.name, key): reason for layer in layers
            for key, reason in layer.failed_learners_.items()}
        self._fit_output = preds[-1]  # what the next step is fed
        # the meta layer's input at fit (the base layers' out-of-fold
        # predictions), for transform of the training data
        self._meta_input = preds[-2] if len(preds) > 1 and getattr(
            layers[-1], "_meta", False) and tasks.collected[-2] != \
            layers[-1].name else None
        self._fit_rows = _output_rows(layers, n)
        if classifier:
            self.classes_ = classes
            for layer in layers:
                _unwrap_regressors(layer)
            _warn_missing_classes(layers, classes)
            for layer in layers:
                P = self.oof_predictions_[layer.name]
                self.oof_predictions_[layer.name] = _label_columns(
                    layer, P, classes)
        self._train_id = _fingerprint(X)
        # which sample weights the fit used (a digest), so that a refit of
        # the meta learner can check it is given the same ones
        self._fit_weights = None if sample_weight is None else \
            _fingerprint(sample_weight)
        self.fit_time_ = time.perf_counter() - t0
        self._log("fit done in %.2f s" % self.fit_time_)
        return self

    def _run(self, X, job, proba=False):
        check_is_fitted(self, "layers_")
        X = self._validate_X(X, reset=False)
        if job == "transform":
            if _fingerprint(X) == getattr(self, "_train_id", None):
                # The training data: its out-of-fold predictions, as fit
                # made them. (Replaying the folds on X would predict the
                # wrong rows after a shuffled fit: the folds index the
                # shuffled rows.)
                meta_input = getattr(self, "_meta_input", None)
                if meta_input is None:
                    return self._fit_output.copy()
                # As ML-Ensemble: the meta learner's fit on all rows applied
                # to the base layers' out-of-fold predictions
                layer = copy.copy(self.layers_[-1])
                with self._engine() as engine:
                    return engine.stack([layer], "predict", meta_input,
                                        return_preds=True)
            job = "predict"  # new data: predictions of the full fits
        # Shallow copies: setup() records per-call state on the layer (rows,
        # columns, the proba override), so calls from several threads on one
        # fitted ensemble must not share it. The fitted estimators are shared.
        layers = [copy.copy(layer) for layer in self.layers_]
        layers[-1].proba_override = True if proba else None
        with self._engine() as engine:
            return engine.stack(layers, job, X, return_preds=True)

    def _snapshot(self):
        """A shallow copy of this ensemble taken while no fit swaps in its
        state: what a prediction reads is one consistent fitted state."""
        with _STATE_LOCK:
            return _shadow(self)

    def _decode(self, P):
        if sp.issparse(P):
            P = P.toarray()
        if P.ndim == 2 and P.shape[1] == 1:
            P = P[:, 0]
        if getattr(self, "classes_", None) is not None and (
                P.ndim == 1 or getattr(self, "n_outputs_", 1) > 1):
            return _positions_to_labels(P, self.classes_)
        return P

    def predict(self, X):
        """Predict with the learners fitted on all rows of every layer.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, \
n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (of ``classes_``) for classification, else the
            final layer's predictions; one column per output of a
            multi-output ``y`` (labels 0 and 1 of each label of a
            multilabel ``y``). An ensemble whose last layer was added with
            ``proba=True`` (``add_meta(est, proba=True)``, or a base layer
            without meta layer) returns that layer's output, the class
            probabilities, as ML-Ensemble did: one column per class of
            each learner, learners in the order of
            :meth:`get_feature_names_out` (for a multilabel ``y``, the
            labels 0 and 1 still). For labels, add the meta layer without
            ``proba`` (:meth:`predict_proba` gives the probabilities
            either way).
        """
        return self._predict(X, labels=False)

    def _predict(self, X, labels):
        """:meth:`predict`; with ``labels``, the most probable class of a
        last layer of class probabilities (for :meth:`score`)."""
        model = self._snapshot()  # one fitted state, even during a refit
        final = model.layers_[-1] if hasattr(model, "layers_") else None
        P = model._run(X, "predict")
        classes = getattr(model, "classes_", None)
        if final is not None and classes is not None and \
                any(lr.proba for lr in final.learners):
            if not (labels or getattr(model, "n_outputs_", 1) > 1):
                # the last layer's probabilities, as ML-Ensemble's predict
                # gave them, meta layer or not (a multilabel y, which it
                # did not take, gets labels)
                return np.asarray(P.toarray() if sp.issparse(P) else P)
            P = np.asarray(P.toarray() if sp.issparse(P) else P)
            if getattr(model, "n_outputs_", 1) > 1 and \
                    P.shape[1] == model.n_outputs_:
                return classes[(P > 0.5).astype(np.intp)]
            if P.shape[1] == len(classes):
                return classes[P.argmax(axis=1)]
        return model._decode(P)

    def _has_proba(self):
        return self._is_classifier() and hasattr(self._final_estimator(),
                                                 "predict_proba")

    @available_if(_has_proba)
    def predict_proba(self, X):
        """Class probabilities of the final estimator.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, \
n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``; for a multilabel ``y``,
            shape (n_samples, n_outputs): the probability that each label
            is 1.
        """
        P = self._snapshot()._run(X, "predict", proba=True)
        return np.asarray(P.toarray() if sp.issparse(P) else P)

    def transform(self, X, y=None):
        """Output of the final layer.

        For the training data (recognised by a fingerprint of the validated
        ``X`` taken at fit), the fit-time out-of-fold predictions, so
        ``fit(X, y).transform(X)`` equals ``fit_transform(X, y)`` (for a
        blend or temporal layer, only the rows it predicted). With a meta
        layer (:meth:`add_meta`), as in ML-Ensemble: the meta learner's fit
        on all rows applied to the base layers' out-of-fold predictions
        (the meta layer's own cross-validated predictions are in
        ``oof_predictions_``). Always two-dimensional, as scikit-learn
        requires of a transformer: ML-Ensemble's ``transform`` gave shape
        ``(n_samples,)`` for a meta layer of one column (and its
        ``fit_transform`` ``(n_samples, 1)``).
        For any other data, the predictions of the full fits, as at predict
        time (one row per row of ``X``), so that an ensemble works as a step
        of a scikit-learn ``Pipeline``. Columns: see
        :meth:`get_feature_names_out`; with ``set_output(transform="pandas")``
        a DataFrame with those columns and the index of ``X``'s rows.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, \
n_features)
        y : array-like of shape (n_samples,), optional
            Only used with ``model_selection=True``: the targets of ``X``.

        Returns
        -------
        ndarray, sparse matrix or DataFrame
            With ``model_selection=True`` and ``y`` given, the pair ``(P,
            y_P)``: ``y_P`` holds the targets of the rows of ``P`` (for the
            training data of a blend or temporal layer, of the rows it
            predicted; otherwise ``y``).
        """
        model = self._snapshot()  # one fitted state, even during a refit
        P = model._frame_rows(model._run(X, "transform"), X)
        if not self.model_selection or y is None:
            return P
        return P, model._targets_of(P, X, y)

    def _targets_of(self, P, X, y):
        """The entries of ``y`` (the targets of ``X``) for the rows of
        ``P``, a transform of ``X``."""
        y = np.asarray(y)
        n = X.shape[0]
        if y.shape[0] != n:
            raise ValueError("y has %d entries, X has %d rows" % (y.shape[0],
                                                                   n))
        if P.shape[0] == n:
            return y
        return y[self._fit_rows]  # the rows a replay of the fit predicted

    def fit_transform(self, X, y, **fit_params):
        """Fit, then return the final layer's out-of-fold predictions, as
        :meth:`transform` returns them (label predictions as positions in
        ``classes_``).

        Parameters
        ----------
        X, y
            As for :meth:`fit`.
        **fit_params
            ``sample_weight``, ``groups``: as for :meth:`fit`.

        Returns
        -------
        ndarray, sparse matrix or DataFrame
        """
        self.fit(X, y, **fit_params)
        if getattr(self, "_meta_input", None) is not None:
            return self._frame_rows(self._run(X, "transform"), X)
        return self._frame_rows(self._fit_output, X)

    def _frame_rows(self, P, X):
        """With pandas output and fewer rows than ``X`` (a replay of a blend
        or temporal layer's predictions), a DataFrame indexed by the rows
        of ``X`` that were predicted; else ``P`` (scikit-learn's output
        wrapper does the rest)."""
        index = getattr(X, "index", None)
        if sp.issparse(P) or P.shape[0] == getattr(X, "shape", (None,))[0] \
                or not self._pandas_output():
            return P
        import pandas as pd
        rows = getattr(self, "_fit_rows", None)
        if index is not None and rows is not None and len(rows) == len(P):
            index = index[rows]
        else:
            index = rows
        return pd.DataFrame(P, index=index,
                            columns=self.get_feature_names_out())

    def _pandas_output(self):
        from sklearn import get_config
        config = getattr(self, "_sklearn_output_config", {}).get("transform")
        if config is None:
            config = get_config().get("transform_output", "default")
        return config == "pandas"

    def get_feature_names_out(self, input_features=None):
        """Names of the columns :meth:`transform` returns (the final
        layer's output).

        The propagated input columns keep their names; each learner gives
        ``<learner>`` (one value per row: a label's position in
        ``classes_``, or a number), ``<learner>_<class>`` (class
        probabilities; the user's labels) and, with partitions,
        ``<learner>_p<j>[_<class>]``; ``<learner>`` is its name in
        :attr:`data`.

        Parameters
        ----------
        input_features : array-like of str, optional
            Input column names; must equal ``feature_names_in_`` when the
            ensemble was fitted on a DataFrame. Default:
            ``feature_names_in_``, else ``x0, x1, ...``.

        Returns
        -------
        ndarray of str objects
        """
        check_is_fitted(self, "layers_")
        if input_features is None:
            return self.layers_[-1].get_feature_names_out()
        names = np.asarray(input_features, dtype=object)
        fitted = getattr(self, "feature_names_in_", None)
        if fitted is not None and not np.array_equal(names, fitted):
            raise ValueError("input_features is not equal to "
                             "feature_names_in_")
        if names.shape != (self.n_features_in_,):
            raise ValueError("input_features should have length equal to "
                             "the number of features (%d), got %d"
                             % (self.n_features_in_, len(names)))
        for layer in self.layers_:
            names = layer.get_feature_names_out(names)
        return names

    def score(self, X, y, sample_weight=None):
        """Accuracy (classifiers) or R^2 (regressors) of :meth:`predict`.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        float
        """
        from sklearn.metrics import accuracy_score, r2_score
        p = self._predict(X, labels=True)
        if self._is_classifier():
            return accuracy_score(y, p, sample_weight=sample_weight)
        return r2_score(y, p, sample_weight=sample_weight)

    @property
    def data(self):
        """ML-Ensemble's table of the base learners: out-of-sample scores
        and fit/predict times, mean (``-m``) and standard deviation (``-s``)
        over each learner's fold fits, as a printable
        :class:`mlcore.metrics.Data`.

        Columns ``score-m score-s ft-m ft-s pt-m pt-s``, each a dict of rows
        ``'layer-<k>/[<case>.]<learner>[--<partition>]'`` (partitions of a
        :class:`Subsemble` get a row each), as ML-Ensemble printed and
        indexed it: ``ens.data['score-m']['layer-1/ridge']``;
        ``pandas.DataFrame(ens.data)`` has one row per learner. A score is
        out of sample: over the folds of a K-fold layer, on the predicted
        rows of a blend or temporal layer. As in ML-Ensemble the meta layer
        and layers fitted once on all their rows have no rows; see
        :meth:`data_table` (and :meth:`data_frame`) for every layer, the
        meta layer's cross-validated score included.
        """
        check_is_fitted(self, "layers_")
        out = Data([e for layer in self.layers_
                    for e in _data_entries(layer, base_only=True)])
        out.failed = dict(getattr(self, "failed_learners_", {}))
        return out

    def data_table(self, meta=True):
        """The scores and times of every layer, as a printable
        :class:`mlcore.metrics.Data` in the layout of :attr:`data`.

        With ``meta`` (the default) the table also holds what ML-Ensemble's
        :attr:`data` leaves out: the meta layer of a :class:`SuperLearner`
        or :class:`Subsemble`, cross-validated on the ensemble's folds of
        its input (a genuine out-of-sample score), and layers fitted once
        on all their rows (times only: their in-sample score would not say
        how well they generalize, so it is left out). Columns ``score-m
        score-s ft-m ft-s pt-m pt-s`` (``score-*`` only when some row has
        a score). As with :attr:`data`, the learners dropped at fit
        (``raise_on_exception=False``) are listed after the table, with
        why they failed.

        Parameters
        ----------
        meta : bool, default=True
            False gives :attr:`data`.

        Returns
        -------
        mlcore.metrics.Data
        """
        check_is_fitted(self, "layers_")
        out = Data([e for layer in self.layers_
                    for e in _data_entries(layer, base_only=not meta)])
        out.failed = dict(getattr(self, "failed_learners_", {}))
        return out

    def data_frame(self, meta=True):
        """:meth:`data_table` as a pandas DataFrame: ``(layer, learner)``
        MultiIndex rows (``learner`` as in :attr:`data`:
        ``[<case>.]<learner>[--<partition>]``), the columns ``score-m
        score-s ft-m ft-s pt-m pt-s`` (NaN where a row has no value).

        Parameters
        ----------
        meta : bool, default=True
            False gives the rows of :attr:`data`.

        Returns
        -------
        pandas.DataFrame
        """
        import pandas as pd
        frame = self.data_table(meta).to_frame().reindex(
            columns=list(_DATA_COLUMNS))
        frame.index = pd.MultiIndex.from_tuples(
            [tuple(row.split("/", 1)) for row in frame.index],
            names=["layer", "learner"])
        return frame.astype(np.float64)

    def risk_table(self):
        """Mean, standard error, minimum and maximum of each learner's
        fold scores, and its fit and predict times, per layer (the meta
        learner's own cross-validated score included), as a pandas
        DataFrame; see :func:`mlcore.risk.risk_table`."""
        from .risk import risk_table
        return risk_table(self)


def _data_names(layer):
    """``{learner key: row name}``: ``case.learner``, or ``learner`` alone
    without preprocessing or with a case of no steps (as ML-Ensemble named
    them), unless that would give two learners one row."""
    empty = {t.name for g in layer.groups for t in g.transformers
             if not t.steps}
    names = {lr.key: lr.name if lr.preprocess in empty or lr.preprocess is
             None else "%s.%s" % (lr.preprocess, lr.name)
             for lr in layer.learners}
    if len(set(names.values())) < len(names):
        names = {lr.key: lr.name if lr.preprocess is None else "%s.%s" % (
            lr.preprocess, lr.name) for lr in layer.learners}
    return names


def block_names(layer):
    """The names of the blocks of ``layer``'s output that a meta learner
    weighs, in column order: each propagated input column (its name), then
    each learner (its row name in :attr:`BaseEnsemble.data`), or each
    learner and partition (``learner--partition``)."""
    names = _data_names(layer)
    out = [str(c) for c in
           layer.get_feature_names_out()[:layer.n_feature_prop]]
    parts = layer.groups[0].indexer.partitions or 1
    for lr in layer.learners:
        out.extend([names[lr.key]] if parts == 1 else [
            "%s--%d" % (names[lr.key], p) for p in range(parts)])
    return out


def _bind_meta_names(meta, base, dropped=False):
    """Match the ``names`` given to an :mod:`mlcore.meta` learner of the
    meta layer ``meta`` to the columns of ``base``, the layer before it.

    A meta learner names its weights by position, and ``base``'s columns
    are in the order of the learners' names, not the order they were
    given in: names that are ``base``'s blocks (:func:`block_names`) in
    another order are put in column order; names that are not are refused
    rather than put on the wrong weights. ``dropped``: ``base`` dropped
    learners since the names were matched, whose names are left out.
    """
    from .meta import _MetaLearner
    expected = block_names(base)
    for lr in meta.learners:
        est = lr.estimator
        if isinstance(est, _PositionTarget):
            est = est.estimator
        given = getattr(est, "names", None) if isinstance(
            est, _MetaLearner) else None
        if given is None or list(given) == expected:
            continue
        given = [str(g) for g in given]
        same = set(given) >= set(expected) if dropped else (
            sorted(given) == sorted(expected))
        if not same or len(set(given)) != len(given):
            raise LayerSpecificationError(
                "%s: the meta learner's names %r are not the learners of %s,"
                " whose columns are, in order, %r. Give those names (in any "
                "order: they are matched by name), or leave names=None and "
                "read the weights by learner with "
                "mlcore.inspection.meta_weights." % (
                    meta.name, list(est.names), base.name, expected))
        est.set_params(names=expected)


# The columns of an ensemble's data table (ML-Ensemble's names).
_DATA_COLUMNS = ("score-m", "score-s", "ft-m", "ft-s", "pt-m", "pt-s")


def _data_entries(layer, base_only):
    """Per-fit ``(name, {'score', 'ft', 'pt'})`` entries of ``layer`` for
    :class:`mlcore.metrics.Data`, named ``layer/[case.]learner.part.fold``.

    The fits that scored out-of-sample rows count (ML-Ensemble's fold
    fits); a layer fitted only on all its rows counts those fits, without
    their in-sample score. ``base_only`` leaves out the meta layer and such
    layers, as ML-Ensemble's table did.
    """
    records = getattr(layer, "fit_records_", None) or []
    in_sample = _in_sample(layer)
    if base_only and (getattr(layer, "_meta", False) or in_sample):
        return []
    scored = [r for r in records if r[5] is not None]
    names = _data_names(layer)
    entries = []
    for key, part, fold, ft, pt, score in sorted(
            scored or records, key=lambda r: (names[r[0]], r[1], r[2])):
        entries.append(("%s/%s.%d.%d" % (layer.name, names[key], part, fold),
                        {"score": None if in_sample else score, "ft": ft,
                         "pt": pt}))
    return entries


# Held while a fit swaps its new state in and while a prediction takes its
# snapshot (the attributes of one fit are never mixed with another's).
_STATE_LOCK = threading.Lock()

# Private attributes that belong to the fitted state (besides the public
# ones, which end with an underscore).
_PRIVATE_FIT_STATE = ("_fit_output", "_fit_rows", "_train_id", "_meta_input",
                      "_fit_weights")


def _fitted_attrs(est):
    """Names of the fitted-state attributes of ``est``."""
    return [k for k in est.__dict__ if k in _PRIVATE_FIT_STATE or (
        k.endswith("_") and not k.startswith("__"))]


def _shadow(est):
    """A shallow copy of ``est`` (same parameters, same fitted objects)."""
    new = object.__new__(type(est))
    new.__dict__.update(est.__dict__)
    return new


def _adopt(est, new):
    """Give ``est`` the fitted state of ``new`` (its shadow, just fitted),
    dropping fitted attributes that the new fit did not set (e.g.
    ``feature_names_in_`` after a fit on an array)."""
    state = {k: new.__dict__[k] for k in _fitted_attrs(new)}
    with _STATE_LOCK:
        for k in _fitted_attrs(est):
            if k not in state:
                del est.__dict__[k]
        est.__dict__.update(state)


def _in_sample(layer):
    """True if some fit of ``layer`` predicts rows it was trained on (a full
    layer), so that its scores are in-sample."""
    n = getattr(layer, "_n_fit", None)
    for splits in getattr(layer, "splits_", {}).values():
        for s in splits:
            if s.test is None:
                continue
            test = as_rows(s.test, n)
            if np.isin(test, as_rows(s.train, n)).any():
                return True
    return False


def _from_file(data):
    """The array stored at ``data`` when it is a file path (ML-Ensemble's
    ensembles took paths to ``.npy``, ``.npz``, ``.mmap``, ``.pkl`` or text
    files, see :func:`mlcore.backend.dump_array`), else ``data``."""
    return _store.load(data) if _store.is_pathlike(data) else data


def _check_structure(X):
    """Refuse a corrupt sparse ``X`` before scikit-learn's validation
    converts it (scipy's conversions of e.g. a BSR matrix with too little
    data read past its buffers)."""
    if sp.issparse(X):
        kernels.to_csr(X, "X")


def _as_csr(X):
    """X as CSR; int64 index arrays are narrowed to int32 when the matrix
    fits (many estimators, trees among them, refuse int64-indexed sparse
    input; scipy produces it for some constructions). The structure is
    checked first: scipy's own conversions and the estimators index a
    corrupt matrix out of bounds."""
    X = kernels.to_csr(X, "X")
    limit = np.iinfo(np.int32).max
    if (X.indices.dtype != np.int32 or X.indptr.dtype != np.int32) and \
            X.nnz <= limit and max(X.shape) <= limit:
        X = type(X)((X.data, X.indices.astype(np.int32),
                     X.indptr.astype(np.int32)), shape=X.shape)
    return X


class _PositionTarget(BaseEstimator):
    """A regressor in a classification layer: fitted on the positions of
    the labels in ``classes`` (0, 1, ...), as the layer's other columns hold
    them, rather than on the labels (which may be text). Used during fit
    only: the fitted regressor replaces it (:func:`_unwrap_regressors`), as
    its predictions are the regressor's own."""

    def __init__(self, estimator, classes):
        self.estimator = estimator
        self.classes = classes

    def fit(self, X, y, **fit_params):
        pos = np.searchsorted(self.classes, y).astype(np.float64)
        self.estimator_ = clone(self.estimator).fit(X, pos, **fit_params)
        return self

    def predict(self, X):
        return self.estimator_.predict(X)

    def __sklearn_tags__(self):
        from sklearn.utils import get_tags
        return get_tags(self.estimator)


def _wrap_regressors(spec, classes):
    """``spec`` (estimators, in any nesting of lists, dicts and ``(name,
    estimator)`` pairs) with every regressor wrapped in a
    :class:`_PositionTarget`."""
    if isinstance(spec, dict):
        return {k: _wrap_regressors(v, classes) for k, v in spec.items()}
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        return (spec[0], _wrap_regressors(spec[1], classes))
    if isinstance(spec, (list, tuple)):
        return [_wrap_regressors(e, classes) for e in spec]
    if spec is not None and is_regressor(spec):
        return _PositionTarget(spec, classes)
    return spec


def _give_classes(group, classes):
    """Tell the :mod:`mlcore.meta` classifiers of ``group`` (the layer's
    clones) every class of ``y``: their input holds a probability column
    per class, and a fold's training rows may lack a class."""
    from .meta import _ClassifierBase
    for lr in group.learners:
        if isinstance(lr.estimator, _ClassifierBase) and \
                lr.estimator.classes is None:
            lr.estimator.set_params(classes=classes)


def _unwrap_regressors(layer):
    """Put the fitted regressors in place of their :class:`_PositionTarget`
    wrappers, in the layer's fitted estimators and its learners."""
    ests = getattr(layer, "estimators_", {})
    for key, est in ests.items():
        if isinstance(est, _PositionTarget):
            ests[key] = est.estimator_
    for lr in layer.learners:
        if isinstance(lr.estimator, _PositionTarget):
            lr.estimator = lr.estimator.estimator


def _output_rows(layers, n):
    """The rows of the training data that the final layer's fit-time output
    holds (ascending, as the engine returns them), or None for all rows.

    Follows the engine: a shuffling layer permutes its input with
    ``check_random_state(random_state).permutation``, a layer with a row
    offset keeps rows ``[offset, offset + n_out)``."""
    rows = np.arange(n)
    for layer in layers:
        if layer.shuffle:
            if isinstance(layer.random_state, np.random.RandomState):
                return None  # its draw is spent: the rows are not known
            perm = np.random.RandomState(layer.random_state).permutation(
                len(rows))
            rows = rows[perm]
        offset = layer.row_offset("fit")
        rows = rows[offset:offset + layer.shape("fit")[0]]
    if len(rows) == n:
        return None
    return np.sort(rows)


def _label_columns(layer, P, classes):
    """``P`` (a layer's output) with the columns of classifiers that predict
    labels holding the labels rather than their positions in ``classes``.

    Numeric labels keep a numeric array; text labels give an object array.
    A sparse output keeps positions for text labels (a sparse matrix holds
    numbers only).
    """
    cols = label_columns(layer)
    if not cols:
        return P
    numeric = np.asarray(classes).dtype.kind in "biuf"
    if sp.issparse(P):
        if not numeric:
            return P
        P = P.tocsc()
        keep = [c for c in range(P.shape[1]) if c not in set(cols)]
        labels = _positions_to_labels(P[:, cols].toarray(), classes)
        Q = sp.hstack([P[:, keep], sp.csc_matrix(labels.astype(P.dtype))],
                      format="csc")
        return Q[:, np.argsort(keep + cols)].tocsr()
    out = np.array(P, dtype=P.dtype if numeric else object)
    out[:, cols] = _positions_to_labels(np.asarray(P)[:, cols], classes)
    return out


def label_columns(layer):
    """The columns of a fitted layer's output written by classifiers that
    predict labels (positions in ``classes``), in order."""
    cols = []
    for lr in layer.learners:
        if lr.proba:
            continue
        fits = {part: est for (key, part, _), est in layer.estimators_.items()
                if key == lr.key}
        if not fits or getattr(next(iter(fits.values())), "classes_",
                               None) is None:
            continue  # a regressor: its column is not a label
        start = layer.columns_[lr.key]
        cols.extend(range(start, start + layer._width(lr, len(fits))))
    return cols


def _positions_to_labels(block, classes):
    """Labels of ``classes`` at the positions ``block`` (floats: a
    regressor's prediction is rounded to the nearest position, clipped to
    the range). A NaN or infinity is no position: ValueError, rather than
    a cast to an arbitrary integer that clipping would turn into a label."""
    block = np.asarray(block, dtype=np.float64)
    if not np.isfinite(block).all():
        raise ValueError("the final layer's output holds %d non-finite "
                         "value(s), which are not class positions"
                         % np.count_nonzero(~np.isfinite(block)))
    idx = np.rint(np.clip(block, 0, len(classes) - 1)).astype(np.intp)
    return np.asarray(classes)[idx]


def _layer_dtype(dtype):
    """The dtype of a layer's output: ``add(..., dtype=)``, else the
    configured one (:func:`mlcore.config_context`, ``config.set_dtype``,
    ``MLCORE_DTYPE``), else float64 (scikit-learn's precision)."""
    if dtype is None:
        dtype = config._configured("dtype")
    return np.float64 if dtype is None else config._check_dtype(dtype)


def _is_int(value):
    return isinstance(value, (numbers.Integral, np.integer)) and \
        not isinstance(value, (bool, np.bool_))


def _blend_refit(indexer, refit):
    """The layer's ``refit`` once a blend's is handed to its indexer.

    Without a refit, a blend predicts new data with its one fit on the
    training part: ``BlendIndex(refit=False)`` makes that fit the layer's
    full fit, rather than averaging fold models (which, for classifiers
    that pass on labels, would vote by class probabilities)."""
    if isinstance(indexer, BlendIndex) and not refit:
        indexer.refit = False
        return True
    return refit


def _check_bagging(refit, n_repeats, owner):
    """Refuse a ``refit`` that is not a bool and an ``n_repeats`` that is
    not an int >= 1."""
    if not isinstance(refit, (bool, np.bool_)):
        raise LayerSpecificationError("%s: refit must be True or False, got "
                                      "%r" % (owner, refit))
    if not _is_int(n_repeats) or n_repeats < 1:
        raise LayerSpecificationError("%s: n_repeats must be an int >= 1, "
                                      "got %r" % (owner, n_repeats))


def _targets(y):
    """``y`` as validated: 1-D, or 2-D with one column per output. A single
    column is flattened with scikit-learn's DataConversionWarning, as a
    single-output estimator does."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        from sklearn.utils.validation import column_or_1d
        y = column_or_1d(y, warn=True)
    return y


def _multilabel(y, owner):
    """A 2-D classification ``y`` as 0/1 ints, or ValueError unless it is
    a multilabel indicator (several multiclass outputs are not handled)."""
    from sklearn.utils.multiclass import type_of_target
    kind = type_of_target(y)
    if kind != "multilabel-indicator":
        raise ValueError(
            "%s: a classification y with %d columns must be a multilabel "
            "indicator (0 or 1 in every column), got %r targets; fit one "
            "ensemble per output instead" % (owner, y.shape[1], kind))
    return y.astype(np.int64)


def _check_outputs(layers, n_outputs):
    """Refuse, before any fit, a learner that declares that it predicts a
    single output when ``y`` has several."""
    if n_outputs == 1:
        return
    for layer in layers:
        for lr in layer.learners:
            if not _accepts_multi_output(lr.estimator):
                est = getattr(lr.estimator, "estimator", lr.estimator) \
                    if isinstance(lr.estimator, _PositionTarget) \
                    else lr.estimator
                wrapper = "MultiOutputClassifier" if is_classifier(est) \
                    else "MultiOutputRegressor"
                raise ValueError(
                    "y has %d outputs, but learner %r of %s (%r) predicts "
                    "one output only (its scikit-learn tag "
                    "target_tags.multi_output is False). Wrap it in "
                    "sklearn.multioutput.%s, or use a learner that fits a "
                    "2-D y" % (n_outputs, lr.key, layer.name, est, wrapper))


def _check_budget_names(layers):
    """Raise when a ``max_fit_time`` dict names no learner (or
    preprocessing case) of its layers (a misspelt name would silently
    leave a learner without a budget)."""
    known, budgets = set(), []
    for layer in layers:
        known.update(lr.key for lr in layer.learners)
        known.update(lr.name for lr in layer.learners)
        known.update(tr.name for g in layer.groups for tr in g.transformers)
        if isinstance(layer.max_fit_time, dict):
            budgets.append(layer.max_fit_time)
    unknown = sorted({name for b in budgets for name in b} - known)
    if unknown:
        raise ValueError("max_fit_time names no learner (or preprocessing "
                         "case) of the ensemble: %s; its learners and cases "
                         "are %s" % (unknown, sorted(known)))


def _check_folds(folds, owner):
    """``folds`` as given to an ensemble: None, an int >= 2, an indexer or
    an object with a ``split`` method."""
    if folds is None or isinstance(folds, BaseIndex) or (
            not isinstance(folds, (type, str)) and
            callable(getattr(folds, "split", None))):
        return folds
    if _is_int(folds):
        if folds < 2:
            raise ValueError("%s: folds must be at least 2, got %d"
                             % (owner, folds))
        return int(folds)
    raise TypeError("%s: folds must be None, an int >= 2, an mlcore indexer "
                    "or a scikit-learn splitter (an object with a split "
                    "method); got %r" % (owner, folds))


def _default_folds(folds, classification, owner, stratify_int=False):
    """The indexer of a K-fold layer for the ensemble parameter ``folds``.

    None: 5 folds (scikit-learn's stacking default), stratified for
    classification (``StratifiedKFold(5)``, unshuffled, as scikit-learn's
    ``StackingClassifier`` and ``cross_val_predict(cv=5)`` use), contiguous
    otherwise. An int ``k``: ``k`` contiguous folds (``KFold(k)``, as in
    ML-Ensemble), or stratified ones with ``stratify_int`` and
    classification. A splitter or indexer: a copy of it.
    """
    folds = _check_folds(folds, owner)
    if folds is None or _is_int(folds):
        k = 5 if folds is None else folds
        if classification and (folds is None or stratify_int):
            from sklearn.model_selection import StratifiedKFold
            return make_index(StratifiedKFold(k))
        return FoldIndex(k)
    return copy.deepcopy(make_index(folds))


def _warn_missing_classes(layers, classes, limit=6):
    """Warn, once per layer, about the fits of classifiers that did not see
    every class of ``y``.

    The fitted estimators' ``classes_`` tell which classes each fit's
    training rows held, in every layer, partition and fold alike. The
    message lists each such fit (fold, partition), its missing classes and
    its learners (the first ``limit`` fits).
    """
    def show(label):
        return repr(getattr(label, "item", lambda: label)())

    for layer in layers:
        known = layer.classes
        if known is None or layer.n_outputs > 1:
            continue  # a multilabel fit's classes_ are per output
        seen = {}
        for (key, part, fold), est in getattr(layer, "estimators_",
                                              {}).items():
            est_classes = getattr(est, "classes_", None)
            if est_classes is None:
                continue
            try:
                missing = ~np.isin(known, np.asarray(est_classes))
            except (TypeError, ValueError):  # pragma: no cover - odd classes_
                continue
            if missing.any():
                where = (part, fold, tuple(np.flatnonzero(missing)))
                seen.setdefault(where, []).append(key)
        if not seen:
            continue
        partitions = max(p for p, _, _ in seen) > 0
        parts = []
        for (part, fold, idx), keys in sorted(seen.items()):
            split = _split_label(layer, fold)
            if partitions:
                split = "partition %d, %s" % (part, split)
            parts.append("%s lacks %s (learner%s %s)" % (
                split, ", ".join(show(classes[i]) for i in idx),
                "s" if len(keys) > 1 else "",
                ", ".join(repr(k) for k in keys)))
        more = len(parts) - limit
        text = "; ".join(parts[:limit]) + (
            "; and %d more" % more if more > 0 else "")
        warnings.warn(
            "%s: some learners were fitted on training rows that lack classes "
            "of y (%d classes), and can never predict them: %s. %s"
            % (layer.name, len(classes), text, _missing_class_hint(layer)),
            MissingClassWarning, stacklevel=3)


def _split_label(layer, fold):
    """How a warning names fold ``fold`` of ``layer``: a blend's fit on its
    training part is "the training part"."""
    indexer = layer.groups[0].indexer if layer.groups else None
    if isinstance(indexer, BlendIndex) and (fold > 0 or not indexer.refit):
        return "the training part"
    return "the full fit" if fold == 0 else "fold %d" % fold


def _missing_class_hint(layer):
    """What to do about a layer whose fits lack classes, by indexer."""
    indexer = layer.groups[0].indexer if layer.groups else None
    if isinstance(indexer, TemporalIndex):
        return ("Early time windows hold only the classes seen so far; a "
                "larger burn_in gives the first fits more history.")
    if isinstance(indexer, (SubsetIndex, ClusteredSubsetIndex)):
        return ("Partitions are blocks of rows: are the rows sorted by "
                "label? Use shuffle=True, or a partition_estimator.")
    if isinstance(indexer, BlendIndex):
        return ("The blend trains on the first rows: are the rows sorted "
                "by label? Use shuffle=True.")
    if isinstance(indexer, FoldIndex) or type(indexer).__name__ == \
            "SplitterIndex":
        return ("Are the rows sorted by label? Use stratified folds "
                "(folds=None or a StratifiedKFold) or shuffle=True.")
    # a layer fitted on what an earlier layer passed on (a blend's holdout)
    return ("Its input rows come from an earlier layer's holdout part: are "
            "the rows sorted by label? Use shuffle=True.")


def _fingerprint(X):
    """A digest of a validated ``X`` (dense array or CSR matrix): shape,
    dtype and every value. Tells the training data from other data."""
    import hashlib
    h = hashlib.blake2b(digest_size=20)
    if sp.issparse(X):
        parts = [("csr", X.data), ("ind", X.indices), ("ptr", X.indptr)]
    else:
        parts = [("dense", X)]
    h.update(repr((X.shape, str(X.dtype))).encode())
    for tag, arr in parts:
        h.update(tag.encode())
        arr = np.asarray(arr)
        if arr.ndim == 2 and arr.shape[0]:
            step = max(1, (1 << 23) // max(1, arr.shape[1] * arr.itemsize))
            for start in range(0, arr.shape[0], step):  # bounded copies
                h.update(np.ascontiguousarray(arr[start:start + step]).data)
        else:
            h.update(np.ascontiguousarray(arr).data)
    return h.digest()


def _accepts_multi_output(est):
    """Whether ``est`` declares that it fits a 2-D ``y``: its scikit-learn
    tag ``target_tags.multi_output``, trusted as :func:`_accepts_sparse`
    trusts the sparse tag (an object with no tags of its own is let
    through; its fit names it if it fails)."""
    return _trusted_tag(est, lambda tags: tags.target_tags.multi_output)


def _fit_store(store, engine, sample_weight, groups):
    """The fit store's context for a fit on ``engine`` (see
    :func:`mlcore.fitstore.using`)."""
    if store is not None and engine.memory == "distributed":
        raise ValueError(
            "memory= stores fits in a directory of this machine, which the "
            "workers of a distributed backend (%r) may not see: use the "
            "'threading', 'loky' or 'multiprocessing' backend with memory=, "
            "or memory=None" % (engine.backend,))
    return using_store(store, sample_weight, groups)


def _accepts_sparse(est):
    """Whether ``est`` declares that it accepts sparse input.

    scikit-learn's ``input_tags.sparse`` decides for scikit-learn's own
    estimators and for classes that define their own tags. An object with
    no tags, or with only the default tags inherited from ``BaseEstimator``
    (which say False without meaning it), is let through: if it cannot take
    sparse data, its fit fails with a LearnerTypeError naming it.
    """
    return _trusted_tag(est, lambda tags: tags.input_tags.sparse)


def _trusted_tag(est, read):
    """``read(tags)`` of ``est``'s scikit-learn tags where they are meant
    (see :func:`_accepts_sparse`), else True."""
    if not hasattr(est, "__sklearn_tags__"):
        return True
    try:
        from sklearn.utils import get_tags
        if read(get_tags(est)):
            return True
    except Exception:  # pragma: no cover - broken third-party tags
        return True
    cls = type(est)
    if cls.__module__.startswith("sklearn."):
        return False
    return not any("__sklearn_tags__" in vars(k)
                   and not k.__module__.startswith("sklearn.")
                   for k in cls.__mro__)


class _Progress(object):
    """Iterate over layers, logging each one as the engine reaches it.

    After a layer that dropped failed learners, the task that takes their
    columns out of its output (:class:`mlcore.layer.KeptColumns`) runs
    next, and the following layers are told the new columns. ``collected``
    lists the names of the tasks run, in order (the engine's returned
    outputs follow it).
    """

    def __init__(self, layers, log, display=None, classes=None):
        self.layers, self.log, self.display = layers, log, display
        self.classes = classes
        self.collected = []

    def __iter__(self):
        for i, layer in enumerate(self.layers):
            if self.display is not None:
                self.display.start_layer(layer.name)
            self.log("layer %d/%d (%s): %d learner(s)"
                     % (i + 1, len(self.layers), layer.name,
                        len(layer.learners)))
            self.collected.append(layer.name)
            yield layer
            if layer.kept_columns_ is not None:
                _after_drop(self.layers, i, self.classes)
                self.collected.append(layer.name)
                yield KeptColumns(layer)


def _after_drop(layers, i, classes):
    """Layer ``i`` dropped learners: its output keeps the columns
    ``kept_columns_``. Point the next layer's propagated columns at their
    new positions, and rename the columns of every later layer."""
    layer = layers[i]
    kept = {old: new for new, old in enumerate(layer.kept_columns_)}
    names = layer.get_feature_names_out()
    if i + 1 < len(layers) and layers[i + 1].propagate_features:
        nxt = layers[i + 1]
        lost = [c for c in nxt.propagate_features if c not in kept]
        if lost:
            raise LayerSpecificationError(
                "layer %r propagates column(s) %s of layer %r, whose "
                "learners failed and were dropped; propagate other columns "
                "or fix the learners" % (nxt.name, [str(names[c]) for c in
                                                    lost], layer.name))
        nxt.propagate_features = [kept[c] for c in nxt.propagate_features]
    names = layer_names_out(layer, layer.feature_names_in_, classes)
    layer._names_out = names
    for later in layers[i + 1:]:
        later.feature_names_in_ = names
        later._names_out = names = layer_names_out(later, names, classes)
    if i + 1 < len(layers) and getattr(layers[i + 1], "_meta", False):
        _bind_meta_names(layers[i + 1], layer, dropped=True)


###############################################################################
@_document
class SuperLearner(BaseEnsemble):
    """Stacked ensemble (super learner): every layer's learners are fitted
    on K folds, and their out-of-fold predictions are the next layer's
    input; a learner fitted on all rows predicts new data.

    The meta layer (:meth:`add_meta`) is cross-validated on the same folds
    of its input, so every row of :attr:`data` is an out-of-sample score.
    Classification follows the final estimator: ``classes_``,
    :meth:`predict_proba`, any labels.

%(parameters)s

%(attributes)s

    See Also
    --------
    BlendEnsemble, Subsemble, SequentialEnsemble, TemporalEnsemble

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.naive_bayes import GaussianNB
    >>> ens = SuperLearner(random_state=0)
    >>> ens = ens.add([LogisticRegression(), GaussianNB()], proba=True)
    >>> ens = ens.add_meta(LogisticRegression())
    """

    _param_docs = {"folds": """\
folds : None, int, indexer or scikit-learn splitter, default=None
    Folds of every layer (``add(..., folds=)`` per layer) and of the meta
    layer's cross-validation. None: 5 folds, stratified for classification
    (``StratifiedKFold(5)``, unshuffled, as scikit-learn's
    ``StackingClassifier``), contiguous for regression (``KFold(5)``). An
    int ``k``: ``k`` contiguous folds, as in ML-Ensemble (on label-sorted
    rows they lack classes, and a
    :class:`~mlcore.exceptions.MissingClassWarning` says so). Any splitter
    that partitions the rows works (``StratifiedKFold``, ``GroupKFold``
    with ``groups`` given to :meth:`fit`, ``KFold(shuffle=True)``,
    ``TimeSeriesSplit``)."""}

    def __init__(self, folds=None, shuffle=False, random_state=None,
                 scorer=None, raise_on_exception=True, verbose=False,
                 n_jobs=None, backend=None, layers=None, refit=True,
                 n_repeats=1, array_check=None, model_selection=False,
                 sample_size=20, memory=None,
                 max_fit_time=None):
        super().__init__(**_common_params(locals()))
        self.folds = folds
        self.refit = refit
        self.n_repeats = n_repeats

    def _indexer_for(self, kwargs):
        folds = kwargs.pop("folds", None)
        if folds is None:
            return "stack", {}  # the ensemble's folds, resolved at fit
        folds = _check_folds(folds, "%s.add" % type(self).__name__)
        if _is_int(folds):
            return "stack", {"n_splits": folds}
        return folds, {}

    def _layer_indexer(self, spec, classification):
        if spec.indexer == "stack" and not spec.indexer_kwargs and \
                not spec.meta:
            return _default_folds(self.folds, classification,
                                  type(self).__name__)
        return super()._layer_indexer(spec, classification)

    def _meta_indexer(self, classification):
        # Cross-validated on the ensemble's folds, so that its row of `data`
        # is a genuine CV score; stratified for an int (its input rows keep
        # the order of y); predictions still come from the full fit.
        return _default_folds(self.folds, classification,
                              type(self).__name__, stratify_int=True)


@_document
class BlendEnsemble(BaseEnsemble):
    """Blended ensemble: each layer's learners are fitted on the first rows
    of its input and predict the last ``test_size`` rows, which are the next
    layer's input (fewer rows per layer). Use ``shuffle=True`` unless the
    rows are in random order.

    By default (``refit=True``, as in ML-Ensemble) every base learner is
    fitted a second time, on all rows of its layer's input, and that fit
    predicts new data. ``refit=False`` fits each learner once and predicts
    new data with the fit on the training part: half the fits, and the next
    layer is applied to predictions of the very models whose holdout
    predictions it was trained on.

    The meta layer is fitted once on all its rows, so it has no score in
    :attr:`data`.

%(parameters)s

%(attributes)s

%(see_superlearner)s
    """

    _param_docs = {"test_size": """\
test_size : float or int, default=0.5
    Rows each layer predicts: a fraction of its input, or a count
    (``add(..., test_size=, train_size=)`` per layer); it is fitted on the
    rows before them.""",
                   "refit": """\
refit : bool, default=True
    Also fit every base learner on all rows of its layer and predict new
    data with that fit (ML-Ensemble's behaviour). False: predict new data
    with the fit on the training part (one fit per learner). Per layer:
    ``add(..., refit=)``. ``layers_[k].estimators_`` holds the fit on all
    rows as fold 0 and the training-part fit as fold 1 (False: the
    training-part fit as fold 0)."""}

    def __init__(self, test_size=0.5, shuffle=False, random_state=None,
                 scorer=None, raise_on_exception=True, verbose=False,
                 n_jobs=None, backend=None, layers=None, array_check=None,
                 model_selection=False, sample_size=20, memory=None,
                 max_fit_time=None, *, refit=True):
        super().__init__(**_common_params(locals()))
        self.test_size = test_size
        self.refit = refit

    _BLEND = ("test_size", "train_size")

    def _indexer_for(self, kwargs):
        return "blend", {k: kwargs.pop(k) for k in self._BLEND if k in kwargs}

    def _layer_indexer(self, spec, classification):
        if spec.indexer == "blend" and not spec.meta:
            kw = {"test_size": self.test_size, "train_size": None}
            kw.update(spec.indexer_kwargs)
            return BlendIndex(**kw)
        return super()._layer_indexer(spec, classification)


@_document
class Subsemble(BaseEnsemble):
    """Subsemble: the rows are cut into partitions, every learner is fitted
    per partition (with K-fold out-of-fold predictions inside it), and each
    partition's predictions are a block of columns of the next layer's
    input.

    The meta layer is cross-validated on ``folds`` folds of its input, as
    :class:`SuperLearner`'s.

%(parameters)s

%(attributes)s

%(see_superlearner)s
    """

    _param_docs = {
        "partitions": """\
partitions : int, default=2
    Number of partitions of the rows (``add(..., partitions=)`` per
    layer).""",
        "partition_estimator": """\
partition_estimator : estimator or None, default=None
    Assigns the rows to partitions (a clusterer such as ``KMeans``, or any
    estimator whose ``predict`` gives partition numbers; see
    :class:`mlcore.index.ClusteredSubsetIndex`). None: contiguous blocks of
    rows (use ``shuffle=True`` unless the rows are in random order).""",
        "folds": """\
folds : int, default=2
    Folds within each partition, and of the meta layer's
    cross-validation (stratified for classification)."""}

    def __init__(self, partitions=2, partition_estimator=None, folds=2,
                 shuffle=False, random_state=None, scorer=None,
                 raise_on_exception=True, verbose=False, n_jobs=None,
                 backend=None, layers=None, refit=True, array_check=None,
                 model_selection=False, sample_size=20, memory=None,
                 max_fit_time=None):
        super().__init__(**_common_params(locals()))
        self.partitions = partitions
        self.partition_estimator = partition_estimator
        self.folds = folds
        self.refit = refit

    def _indexer_for(self, kwargs):
        partitions = kwargs.pop("partitions", self.partitions)
        folds = kwargs.pop("folds", self.folds)
        est = kwargs.pop("partition_estimator", self.partition_estimator)
        if est is None:
            return "subsemble", {"partitions": partitions, "n_splits": folds}
        extra = {k: kwargs.pop(k) for k in ("fit_estimator", "attr",
                                            "partition_on") if k in kwargs}
        # safe=False: any object with fit and predict partitions the rows,
        # as in ML-Ensemble; one without get_params is deep-copied
        return "clusteredsubsemble", dict(estimator=clone(est, safe=False),
                                          partitions=partitions,
                                          n_splits=folds, **extra)

    def _meta_indexer(self, classification):
        # as SuperLearner's: cross-validated on `folds` folds of its input
        return _default_folds(self.folds, classification,
                              type(self).__name__, stratify_int=True)


@_document
class TemporalEnsemble(BaseEnsemble):
    """Ensemble for time series: each fold is fitted on the past and
    predicts the next ``step_size`` rows, so that no prediction uses the
    future. The rows must be in time order; shuffling is always off.

    With a ``window``, the folds after the first train on the last
    ``window`` rows before them; by default the first fold trains on all
    ``burn_in - lag`` rows before it and the learners that predict new data
    are fitted on all rows, as in ML-Ensemble. ``strict_window=True``
    bounds those two fits by the window as well.

    The meta layer is fitted once on all its rows, so it has no score in
    :attr:`data`.

%(parameters)s

%(attributes)s

%(see_superlearner)s
    """

    _param_docs = {
        "step_size": """\
step_size : int, default=1
    Rows each fold predicts (``add(..., step_size=)`` per layer).""",
        "burn_in": """\
burn_in : int or None, default=None
    Rows before the first prediction (None: ``step_size``); the layer's
    output starts after them.""",
        "window": """\
window : int or None, default=None
    Rows of history each fold is fitted on (None: all rows before it).""",
        "lag": """\
lag : int, default=0
    Rows left out between a fold's training window and the rows it
    predicts.""",
        "strict_window": """\
strict_window : bool, default=False
    With a ``window``: also fit the first fold on the last ``window`` rows
    before it, and the learners that predict new data on the last
    ``window`` rows of the input, so that every fit sees the same amount of
    history. False (ML-Ensemble's behaviour): the first fold is fitted on
    all rows before it and the final fits on all rows. Per layer:
    ``add(..., strict_window=)``."""}

    def __init__(self, step_size=1, burn_in=None, window=None, lag=0,
                 scorer=None, raise_on_exception=True, verbose=False,
                 n_jobs=None, backend=None, layers=None, random_state=None,
                 array_check=None, model_selection=False, sample_size=20,
                 memory=None, max_fit_time=None, *,
                 strict_window=False):
        super().__init__(**dict(_common_params(locals()), shuffle=False))
        self.step_size = step_size
        self.burn_in = burn_in
        self.window = window
        self.lag = lag
        self.strict_window = strict_window

    _TEMPORAL = ("step_size", "burn_in", "window", "lag", "strict_window")

    def _indexer_for(self, kwargs):
        return "temporal", {k: kwargs.pop(k) for k in self._TEMPORAL
                            if k in kwargs}

    def _layer_indexer(self, spec, classification):
        if spec.indexer == "temporal" and not spec.meta:
            kw = {k: getattr(self, k) for k in self._TEMPORAL}
            kw.update(spec.indexer_kwargs)
            return TemporalIndex(**kw)
        return super()._layer_indexer(spec, classification)

    def add(self, estimators, preprocessing=None, proba=False, meta=False,
            propagate_features=None, **kwargs):
        """Append a layer whose folds follow time.

        Parameters
        ----------
        estimators, preprocessing, proba, meta, propagate_features
            As for :meth:`SuperLearner.add`.
        **kwargs
            ``step_size``, ``burn_in``, ``window``, ``lag``,
            ``strict_window`` for this layer (default: the ensemble's), and
            ``dtype``, ``random_state``, ``scorer``, ``refit`` (False:
            predict with the average of the window models). Shuffling is
            always off.

        Returns
        -------
        self
        """
        kwargs["shuffle"] = False
        return super().add(estimators, preprocessing, proba, meta,
                           propagate_features, **kwargs)


@_document
class SequentialEnsemble(BaseEnsemble):
    """An ensemble whose layers each pick their kind: ``add('stack', ...)``,
    ``add('blend', ...)``, ``add('subsemble', ...)``,
    ``add('clusteredsubsemble', ...)``, ``add('temporal', ...)``,
    ``add('full', ...)``, with that kind's settings.

    ``'stack'`` layers without ``folds`` get :class:`SuperLearner`'s
    default folds (``StratifiedKFold(5)`` for classification, ``KFold(5)``
    otherwise). Layers fitted once on all their rows (``'full'``, the meta
    layer of :meth:`add_meta`) have no score in :attr:`data`.

%(parameters)s

%(attributes)s

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.naive_bayes import GaussianNB
    >>> ens = SequentialEnsemble()
    >>> ens = ens.add("stack", [LogisticRegression(), GaussianNB()],
    ...               proba=True, folds=3)
    >>> ens = ens.add("blend", [GaussianNB()], proba=True, test_size=0.3)
    >>> ens = ens.add_meta(LogisticRegression())
    """

    def add(self, cls, estimators, preprocessing=None, proba=False,
            meta=False, propagate_features=None, **kwargs):
        """Append a layer of kind ``cls``.

        Parameters
        ----------
        cls : {'stack', 'blend', 'subsemble', 'clusteredsubsemble', \
'temporal', 'full'}
            How the layer's rows are split (:data:`mlcore.index.INDEXERS`):
            K folds, a training part and a predicted part, partitions with
            folds inside, partitions found by an estimator, time-ordered
            folds, or one fit on all rows.
        estimators, preprocessing, proba, meta, propagate_features
            As for :meth:`SuperLearner.add`.
        **kwargs
            The settings of that kind: ``folds`` (or ``n_splits``; an int or
            a scikit-learn splitter) for ``'stack'``; ``test_size``,
            ``train_size``, ``refit`` for ``'blend'``; ``partitions``,
            ``folds`` for ``'subsemble'``; ``estimator``, ``partitions``,
            ``folds``, ``fit_estimator``, ``attr``, ``partition_on`` for
            ``'clusteredsubsemble'``; ``step_size``, ``burn_in``,
            ``window``, ``lag``, ``strict_window`` for ``'temporal'``
            (see :class:`BlendEnsemble` and :class:`TemporalEnsemble`).
            Also ``dtype``, ``shuffle``, ``random_state``, ``scorer``,
            ``refit`` and ``n_repeats`` (see :class:`SuperLearner`; for a
            blend layer, ``refit`` as for :class:`BlendEnsemble`) for this
            layer.

        Returns
        -------
        self

        Raises
        ------
        LayerSpecificationError
            For an unknown ``cls``.
        """
        if cls not in INDEXERS:
            raise LayerSpecificationError("unknown layer class %r; use one of "
                                          "%s" % (cls, sorted(INDEXERS)))
        self._next_cls = cls
        try:
            return super().add(estimators, preprocessing, proba, meta,
                               propagate_features, **kwargs)
        finally:
            del self._next_cls

    def add_meta(self, estimator, **kwargs):
        """Append the meta layer: a ``'full'`` layer, one estimator fitted on
        all rows of the previous layer's output.

        Parameters
        ----------
        estimator : estimator
        **kwargs
            ``dtype``, ``random_state``, ``scorer`` for this layer, and
            ``proba=True``, as for :meth:`SuperLearner.add_meta`.

        Returns
        -------
        self
        """
        return self.add("full", estimator, meta=True, **kwargs)

    def _indexer_for(self, kwargs):
        cls = self._next_cls
        if "folds" in kwargs:
            kwargs["n_splits"] = kwargs.pop("folds")
        if cls == "stack" and "n_splits" in kwargs and not isinstance(
                kwargs["n_splits"], (numbers.Integral, np.integer)):
            # a scikit-learn splitter, as SuperLearner(folds=splitter)
            return kwargs.pop("n_splits"), {}
        import inspect
        accepted = inspect.signature(INDEXERS[cls]).parameters
        ikw = {k: kwargs.pop(k) for k in list(kwargs) if k in accepted}
        return cls, ikw

    def _layer_indexer(self, spec, classification):
        if spec.indexer == "stack" and "n_splits" not in spec.indexer_kwargs \
                and not spec.meta:
            # the same default as SuperLearner(folds=None)
            return _default_folds(None, classification, type(self).__name__)
        return super()._layer_indexer(spec, classification)


###############################################################################
class Sequential(object):
    """A stack of layer tasks fitted one after another, each on the output
    of the one before: ML-Ensemble's ``mlens.ensemble.Sequential``.

    Kept for code written for ML-Ensemble, which built ensembles from
    low-level layers with it. The layers are tasks of the backend protocol
    (:class:`mlcore.layer.Layer` objects, or layers written for
    ML-Ensemble's backend), run by :meth:`ParallelProcessing.stack
    <mlcore.backend.ParallelProcessing.stack>`. New code builds ensembles
    with :meth:`SequentialEnsemble.add` (a scikit-learn estimator, with
    class labels, validation and ``data``).

    Parameters
    ----------
    name : str, optional
    verbose : bool or int, default=False
        Accepted for compatibility (the layers have their own).
    stack : layer or list of layers, optional
    backend, n_jobs : optional
        As for :class:`~mlcore.backend.ParallelProcessing` (None: the
        configured ones).
    raise_on_exception : bool, default=True
        Accepted for compatibility: a failing learner always raises.
    """

    def __init__(self, name=None, verbose=False, stack=None, backend=None,
                 n_jobs=None, raise_on_exception=True):
        if stack is not None and not isinstance(stack, list):
            if not callable(getattr(stack, "setup", None)):
                raise ValueError("stack must be a layer or a list of layers, "
                                 "got %r" % (stack,))
            stack = [stack]
        self.name = "sequential" if name is None else name
        self.verbose = verbose
        self.stack = list(stack or [])
        self.backend = backend
        self.n_jobs = n_jobs
        self.raise_on_exception = raise_on_exception
        self.__fitted__ = False

    def __iter__(self):
        return iter(self.stack)

    def push(self, *layers):
        """Append layers to the stack; returns self."""
        self.stack.extend(layers)
        return self

    def pop(self, idx=-1):
        """Remove and return the layer at ``idx``."""
        return self.stack.pop(idx)

    def replace(self, idx, layer):
        """Put ``layer`` at position ``idx``; returns self."""
        self.stack[idx] = layer
        return self

    def _run(self, job, X, y=None, return_preds=True, **kwargs):
        if not self.stack:
            raise LayerSpecificationError("Sequential %r has no layers: push "
                                          "some first" % self.name)
        if job != "fit" and not self.__fitted__:
            raise NotFittedError("Sequential %r is not fitted: call fit "
                                 "first" % self.name)
        with ParallelProcessing(self.backend, self.n_jobs, 0) as engine:
            return engine.stack(self, job, X, y, return_preds=return_preds,
                                **kwargs)

    def fit(self, X, y=None, return_preds=False, **kwargs):
        """Fit every layer, each on the output of the previous one.

        Returns
        -------
        self, or the last layer's output with ``return_preds=True``
        """
        out = self._run("fit", X, y, return_preds=return_preds, **kwargs)
        self.__fitted__ = True
        return out if return_preds else self

    def fit_transform(self, X, y=None, **kwargs):
        """``fit(X, y, return_preds=True)``: the last layer's fit-time
        (out-of-fold) predictions."""
        return self.fit(X, y, return_preds=True, **kwargs)

    def predict(self, X, **kwargs):
        """The last layer's predictions for new data, with the estimators
        fitted on all rows (a squeezed array, as in ML-Ensemble)."""
        return _squeezed(self._run("predict", X, **kwargs))

    def transform(self, X, **kwargs):
        """The fit-time predictions again, for the training data ``X``."""
        return _squeezed(self._run("transform", X, **kwargs))

    @property
    def data(self):
        """The layers' table in ML-Ensemble's layout, as
        :attr:`BaseEnsemble.data` (:class:`mlcore.metrics.Data`)."""
        entries = []
        for layer in self.stack:
            if hasattr(layer, "fit_records_"):
                entries.extend(_data_entries(layer, base_only=False))
            else:  # a layer written for ML-Ensemble
                entries.extend(("%s/%s" % (layer.name, k), v)
                               for k, v in getattr(layer, "raw_data", None)
                               or [])
        return Data(entries)


def _squeezed(P):
    if sp.issparse(P) or not hasattr(P, "squeeze"):
        return P
    return P.squeeze()


# ML-Ensemble's module paths (mlens.ensemble.super_learner, ...)
for _path, _names in [("super_learner", ["SuperLearner"]),
                      ("blend", ["BlendEnsemble"]),
                      ("subsemble", ["Subsemble"]),
                      ("sequential", ["SequentialEnsemble"]),
                      ("temporal", ["TemporalEnsemble"]),
                      ("base", ["BaseEnsemble", "Sequential"])]:
    _submodule(__name__, _path, _names)
del _path, _names
