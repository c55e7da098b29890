"""ML-Ensemble's :class:`Layer`: groups of learners run as one task.

For code written for ``mlens.parallel``; mlcore's ensembles use
:class:`mlcore.layer.Layer`.
"""
import time
import warnings

from sklearn.base import BaseEstimator

from .._subtasks import run as _run_subtasks
from .._joblib import delayed
from ..exceptions import LayerSpecificationError, NotFittedError
from ..utils import print_time, safe_print
from ._base import BackendParams, data_table, format_name
from .handles import Group

__all__ = ["Layer"]


class Layer(BackendParams, BaseEstimator):
    """Groups of learners and transformers, run as one task of
    :class:`~mlcore.backend.ParallelProcessing` (ML-Ensemble's
    ``mlens.parallel.Layer``).

    A call runs every transformer's sub-fits in one pool, then every
    learner's. The output has the propagated input columns first, then one
    block per learner, in the order of :attr:`learners`.

    Parameters
    ----------
    name : str, optional
        Default ``'layer-<k>'``.
    propagate_features : list of int, optional
        Input columns copied into the first columns of the output.
    shuffle : bool, default=False
        Shuffle the rows before a fit. As in ML-Ensemble the output of a
        shuffled fit comes in the shuffled order;
        :meth:`~mlcore.backend.ParallelProcessing.output_rows` gives the
        permutation.
    random_state : int, optional
        Seed of the shuffle.
    verbose : bool or int
    stack : Group or list of Group, optional
        The groups; more can be added with :meth:`push`.
    backend, n_jobs, dtype, raise_on_exception
        Engine settings (see :class:`~mlcore.parallel.Learner`); ``dtype``
        is the dtype of the layer's output.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression, Ridge
    >>> from mlcore.index import FoldIndex
    >>> from mlcore.parallel import Layer, make_group, run
    >>> X = np.arange(40.0).reshape(20, 2); y = X.sum(axis=1)
    >>> group = make_group(FoldIndex(2), [LinearRegression(), Ridge()])
    >>> run(Layer(stack=group), "fit", X, y, return_preds=True).shape
    (20, 2)
    """

    # mlcore's engine forwards run()'s keywords (refit=...) to the layer;
    # its shuffled outputs keep ML-Ensemble's (shuffled) row order.
    forward_kwargs = True

    def __init__(self, name=None, propagate_features=None, shuffle=False,
                 random_state=None, verbose=False, stack=None, backend=None,
                 n_jobs=-1, dtype=None, raise_on_exception=True):
        if stack is None:
            stack = []
        elif isinstance(stack, Group):
            stack = [stack]
        elif not (isinstance(stack, list) and
                  all(isinstance(g, Group) for g in stack)):
            raise LayerSpecificationError(
                "stack must be a Group or a list of Groups, got %r" % (stack,))
        self.name = format_name(name, "layer")
        self.propagate_features = propagate_features
        self.shuffle = shuffle
        self.random_state = random_state
        self._set_backend(backend, n_jobs, dtype, raise_on_exception)
        self.__no_output__ = False
        self.feature_span = None
        self._verbose = verbose
        groups, self.stack = list(stack), stack  # the list given (clone)
        del stack[:]
        self.push(*groups)

    # -- the groups ----------------------------------------------------------
    def push(self, *groups):
        """Add groups (names must be unique); returns the layer."""
        names = {g.name for g in self.stack}
        for group in groups:
            if group.name in names:
                raise LayerSpecificationError(
                    "layer %r already has a group named %r: rename it"
                    % (self.name, group.name))
            names.add(group.name)
            self.stack.append(group)
            setattr(self, _attr_name(group.name), group)
        return self

    def replace(self, idx, item):
        """Put group ``item`` in place of group ``idx``."""
        setattr(self, _attr_name(item.name), item)
        self.stack[idx] = item

    def pop(self, idx):
        """Remove and return group ``idx``."""
        return self.stack.pop(idx)

    @property
    def verbose(self):
        return self._verbose

    @verbose.setter
    def verbose(self, verbose):
        self._verbose = verbose
        for group in self.stack:
            group.verbose = verbose

    @property
    def n_feature_prop(self):
        return len(self.propagate_features) if self.propagate_features else 0

    @property
    def learners(self):
        return [lr for g in self.stack for lr in g.learners]

    @property
    def transformers(self):
        return [tr for g in self.stack for tr in g.transformers]

    @property
    def indexers(self):
        return [g.indexer for g in self.stack]

    def __iter__(self):
        yield self

    # -- protocol ------------------------------------------------------------
    def setup(self, X, y, job, **kwargs):
        """Fit the groups' indexers and assign the output columns."""
        for group in self.stack:
            group.indexer.fit(X, y, job)
        for group in self.stack:
            group._push_settings()
        self._offset = self._fit_offset(X.shape[0], job)
        for tr in self.transformers:
            tr.setup(X, y, job, skip=["0_index"])
        col = self.n_feature_prop
        for lr in self.learners:
            lr.setup(X, y, job, skip=["0_index"], n_left_concats=col,
                     row_offset=self._offset)
            if not lr.__no_output__:
                col = lr.feature_span[1]
        self.feature_span = (self.n_feature_prop, col)

    def _fit_offset(self, n, job):
        """Input row of the output's row 0: the indexers' ``row_offset``
        when they agree; else, as in ML-Ensemble, the output (as many rows
        as the largest indexer's) covers the last rows of the input, and
        shorter outputs are zero-padded."""
        if job == "predict":
            return 0
        layouts = {(idx.n_test_samples, idx.row_offset or 0)
                   for idx in self.indexers}
        if len(layouts) == 1:
            return layouts.pop()[1]
        return n - max(rows for rows, _ in layouts)

    def shape(self, job):
        """Output shape of ``job``: the indexers' rows (the largest, with a
        warning, if they disagree) and every learner's columns."""
        attr = "n_samples" if job == "predict" else "n_test_samples"
        sizes = sorted({getattr(idx, attr) for idx in self.indexers})
        if len(sizes) > 1:
            warnings.warn("the indexers of layer %r give different output "
                          "sizes %s; the output is zero-padded"
                          % (self.name, sizes))
        return sizes[-1], self.feature_span[1]

    def row_offset(self, job):
        """Input row of the output's row 0 (the indexers' ``row_offset``)."""
        return 0 if job == "predict" else self._offset

    def __call__(self, args, parallel):
        """Run the layer's sub-fits for ``args['job']`` on ``parallel``."""
        if not self.stack:
            raise LayerSpecificationError(
                "layer %r has no groups: push some first" % self.name)
        job = args["job"]
        if job == "fit" and args.get("refit", True) is False and \
                self.__fitted__:
            args = dict(args, job="transform")
            job = "transform"
        if job != "fit" and not self.__fitted__:
            raise NotFittedError("layer %r is not fitted" % self.name)
        t0 = None
        if self.verbose:
            safe_print("Processing %s" % self.name, file=self._stream)
            t0 = time.perf_counter()
        for nodes, arg_type in ((self.transformers, "auxiliary"),
                                (self.learners, "main")):
            subtasks = [s for node in nodes for s in node(args, arg_type)]
            _run_subtasks(parallel, [delayed(s)() for s in subtasks])
        if job == "fit":
            self.collect()
        if t0 is not None:
            print_time(t0, "%-30s done" % self.name, file=self._stream)

    @property
    def _stream(self):
        return "stdout" if self.verbose < 10 else "stderr"

    def collect(self, path=None):
        """Load every node's fitted estimators from the cache."""
        for node in self.transformers + self.learners:
            node.collect(path)

    # -- state and data ------------------------------------------------------
    @property
    def __fitted__(self):
        return bool(self.stack) and all(g.__fitted__ for g in self.stack)

    @property
    def raw_data(self):
        """``[(name, data)]`` of every learner's fold fits."""
        return [item for lr in self.learners for item in lr.raw_data]

    @property
    def data(self):
        """Per-learner means and standard deviations of the fold data
        (see :attr:`mlcore.parallel.Learner.data`)."""
        partitions = any(lr._partitions > 1 for lr in self.learners)
        return data_table(self.raw_data, partitions)

    def get_params(self, deep=True):
        out = super().get_params(deep=False)
        if deep:
            for group in self.stack:
                out[group.name] = group
                for key, value in group.get_params(deep=True).items():
                    out["%s__%s" % (group.name, key)] = value
        return out


def _attr_name(name):
    return name.replace("-", "_").replace(" ", "").strip()
