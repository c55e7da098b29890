"""Handles of ML-Ensemble's low-level API: :class:`Pipeline` (a
preprocessing pipeline that can pass ``y`` along), :class:`Group` (learners
and transformers sharing one indexer) and :func:`make_group`.

For code written for ``mlens.parallel``; mlcore's ensembles use
:func:`mlcore.layer.make_group`.
"""
from collections import Counter

from sklearn.base import BaseEstimator, clone

from .._spec import (ANY_CASE, estimators_by_case, mlens_names, no_case,
                      preprocessing_cases)
from ..exceptions import LayerSpecificationError, NotFittedError
from ..index import check_index
from ._base import BackendParams, format_name
from .learner import Learner, Transformer

__all__ = ["Pipeline", "Group", "make_group"]


def _is_pair(item):
    return isinstance(item, tuple) and len(item) == 2 and isinstance(item[0],
                                                                     str)


def _base_name(item):
    return item[0] if _is_pair(item) else type(item).__name__.lower()


def _named(lists):
    """``[(name, obj)]`` for each list of objects or ``(name, obj)`` pairs.

    Unnamed objects are named after their class, lower-cased, and numbered
    from 1 (``ridge-1``, ``ridge-2``) when that name occurs more than once
    across all the lists, as ML-Ensemble named them.
    """
    counts = Counter(_base_name(i) for items in lists for i in items
                     if not _is_pair(i))
    seen = Counter()
    out = []
    for items in lists:
        named = []
        for item in items:
            name = _base_name(item)
            if not _is_pair(item) and counts[name] > 1:
                seen[name] += 1
                name = "%s-%d" % (name, seen[name])
            named.append((name, item[1] if _is_pair(item) else item))
        out.append(named)
    flat = [n for named in out for n, _ in named]
    if len(set(flat)) != len(flat):
        raise LayerSpecificationError("duplicate names: %s" % sorted(flat))
    return out


def _transform(step, X, y):
    """A step's transform of ``X``; steps that also transform ``y`` take
    and return both (ML-Ensemble's convention)."""
    try:
        return step.transform(X), y
    except TypeError:
        return step.transform(X, y)


class Pipeline(BaseEstimator):
    """A preprocessing pipeline: transformers fitted and applied in order.

    ML-Ensemble's ``mlens.parallel.Pipeline``. Unlike scikit-learn's, it
    can return ``y`` too, which :class:`~mlcore.parallel.Transformer`
    needs (``return_y=True``), and its steps may transform ``y``.

    Parameters
    ----------
    pipeline : transformer or list
        Transformers, or ``(name, transformer)`` pairs; unnamed ones are
        named after their class.
    name : str, optional
    return_y : bool, default=False
        ``transform(X, y)`` returns ``(X, y)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import StandardScaler
    >>> Pipeline([StandardScaler()]).fit_transform(np.array([[1.], [3.]]))
    array([[-1.],
           [ 1.]])
    """

    def __init__(self, pipeline, name=None, return_y=False):
        self.pipeline = pipeline
        self.name = format_name(name, "pipeline")
        self.return_y = return_y

    def _steps(self):
        steps = self.pipeline
        if steps is None:
            return []
        if not isinstance(steps, (list, tuple)) or _is_pair(steps):
            steps = [steps]
        return _named([list(steps)])[0]

    def _run(self, fit, X, y):
        if fit:
            self.steps_ = [(n, clone(s)) for n, s in self._steps()]
        elif not hasattr(self, "steps_"):
            raise NotFittedError("Pipeline %r is not fitted" % self.name)
        for _, step in self.steps_:
            if fit:
                step.fit(X, y)
            X, y = _transform(step, X, y)
        return X, y

    def fit(self, X, y=None):
        """Fit the steps in order (each on the previous steps' output)."""
        self._run(True, X, y)
        return self

    def transform(self, X, y=None):
        """``X`` (and ``y`` with ``return_y``) through the fitted steps."""
        X, y = self._run(False, X, y)
        return (X, y) if self.return_y else X

    def fit_transform(self, X, y=None):
        """Fit, and return what :meth:`transform` returns."""
        X, y = self._run(True, X, y)
        return (X, y) if self.return_y else X

    def get_params(self, deep=True):
        out = super().get_params(deep=False)
        if deep:
            for name, step in self._steps():
                out[name] = step
                for key, value in step.get_params(deep=True).items():
                    out["%s__%s" % (name, key)] = value
        return out


class Group(BackendParams, BaseEstimator):
    """Learners and transformers that share one indexer
    (ML-Ensemble's ``mlens.parallel.Group``).

    Iterating a group yields its transformers, then its learners (with the
    group's ``dtype``, ``raise_on_exception`` and, if set, ``verbose``), so
    it can be run with :func:`~mlcore.parallel.run` or pushed onto a
    :class:`~mlcore.parallel.Layer`.

    Parameters
    ----------
    indexer : indexer, optional
        Given to every member; default the first learner's indexer.
    learners : Learner or list of Learner
    transformers : Transformer or list of Transformer, optional
        (ML-Ensemble required this argument.)
    name : str, optional
    backend, n_jobs, dtype, raise_on_exception
        Engine settings (see :class:`~mlcore.parallel.Learner`).
    """

    def __init__(self, indexer=None, learners=None, transformers=None,
                 name=None, backend=None, n_jobs=-1, dtype=None,
                 raise_on_exception=True):
        learners = _as_list(learners)
        transformers = _as_list(transformers)
        if indexer is None:
            if not learners or learners[0].indexer is None:
                raise LayerSpecificationError(
                    "Group needs an indexer, or learners that have one")
            indexer = learners[0].indexer
        self.indexer = check_index(indexer)
        for node in learners + transformers:
            node.set_indexer(self.indexer)  # one indexer, fitted once
        self.learners = learners
        self.transformers = transformers
        self.name = format_name(name, "group")
        self._set_backend(backend, n_jobs, dtype, raise_on_exception)

    def __iter__(self):
        self._push_settings()
        return iter(self.transformers + self.learners)

    def _push_settings(self):
        """Give every member the group's ``dtype``, ``raise_on_exception``
        and (when set) ``verbose``, as ML-Ensemble's groups did."""
        pushed = {k: getattr(self, k) for k in ("dtype", "verbose",
                                                "raise_on_exception")
                  if hasattr(self, k)}
        for node in self.transformers + self.learners:
            for key, value in pushed.items():
                setattr(node, key, value)

    @property
    def __fitted__(self):
        nodes = self.learners + self.transformers
        return bool(nodes) and all(n.__fitted__ for n in nodes)

    def get_params(self, deep=True):
        out = super().get_params(deep=False)
        if deep:
            for node in self.transformers + self.learners:
                out[node.name] = node
                for key, value in node.get_params(deep=True).items():
                    out["%s__%s" % (node.name, key)] = value
        return out


def _as_list(nodes):
    """A list of nodes: a list as it is (so that ``clone`` finds the
    parameter it passed), anything else in a new list."""
    if isinstance(nodes, list):
        return nodes
    if nodes is None:
        return []
    return list(nodes) if isinstance(nodes, tuple) else [nodes]


def make_group(indexer, estimators, preprocessing=None, learner_kwargs=None,
               transformer_kwargs=None, name=None):
    """A :class:`Group` of :class:`~mlcore.parallel.Learner` and
    :class:`~mlcore.parallel.Transformer` nodes from estimators and
    preprocessing (ML-Ensemble's ``mlens.parallel.make_group``).

    Parameters
    ----------
    indexer : indexer
    estimators : estimator, list or dict
        A list of estimators or ``(name, estimator)`` pairs; with a dict of
        preprocessing cases, a dict mapping case names to such lists.
    preprocessing : list or dict, optional
        Transformers of one case (named ``'pr'``), or a dict of cases. A
        case with no transformers means no preprocessing.
    learner_kwargs, transformer_kwargs : dict, optional
        Passed to every Learner / Transformer.
    name : str, optional

    Returns
    -------
    Group
        Learners ordered by ``'<case>__<name>'`` (by name without cases),
        transformers by case. As in ML-Ensemble, unnamed estimators are
        named after their class, and a name used more than once (in any
        case, or as a case name) is numbered: ``ridge-1``, ``ridge-2``.
    """
    if isinstance(estimators, dict) and not isinstance(preprocessing, dict):
        raise LayerSpecificationError(
            "estimators is a dict of preprocessing cases, so preprocessing "
            "must be a dict of cases too")
    cases = dict(preprocessing_cases(preprocessing))
    transformers = [Transformer(estimator=Pipeline(steps, return_y=True),
                                name=case, **(transformer_kwargs or {}))
                    for case, steps in sorted(cases.items()) if steps]
    # the user's case names, for ML-Ensemble's order of the learners
    keys = [str(k) for k in estimators] if isinstance(estimators, dict) \
        else [""]
    by_case = []
    for key, (case, ests) in sorted(zip(keys, estimators_by_case(estimators)),
                                    key=lambda entry: entry[0]):
        if case is ANY_CASE:
            case = "pr" if cases else None
        if case is not None and not no_case(case) and not cases.get(case):
            case = None  # a case without transformers: no preprocessing
        by_case.append((key, case, _as_list(ests)))
    named = mlens_names([ests for _, _, ests in by_case], taken=cases)
    order, learners = [], []
    for (key, case, _), pairs in zip(by_case, named):
        for lname, est in pairs:
            order.append("%s__%s" % (key, lname))  # as ML-Ensemble sorted
            learners.append(Learner(estimator=est, preprocess=case,
                                    name=lname, **(learner_kwargs or {})))
    learners = [lr for _, lr in sorted(zip(order, learners),
                                       key=lambda pair: pair[0])]
    return Group(indexer=indexer, learners=learners,
                 transformers=transformers, name=name)
