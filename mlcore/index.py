"""Indexers: which rows each sub-fit of an ensemble layer trains on and predicts.

An indexer is fitted on a layer's input (usually only the number of rows is
used) and then holds a list of :class:`Split` objects, generated once by
:meth:`BaseIndex.fit` and returned unchanged by :meth:`BaseIndex.generate`.
The successor of ``mlens.index``, with one row format and one set of rules
for every indexer.

Splits
------
``Split(partition, fold, train, test)``:

``partition``
    ``0 <= partition < partitions``; selects the block of output columns the
    split writes to (subsembles fit one estimator per partition).
``fold``
    ``0`` for the *full* fit of that partition (the estimator kept for
    ``predict``), ``j >= 1`` for fold fit ``j`` (used only to produce
    out-of-sample predictions at fit and transform time).
``train``
    The input rows the estimator is fitted on.
``test``
    The input rows it predicts at fit time (and again at transform time), or
    ``None`` when the split writes nothing then.

Rows are a Python ``slice`` with explicit integer ``start`` and ``stop`` (and
no step) when they are contiguous, so that ``X[train]`` is a view and costs
nothing; otherwise they are a sorted, C-contiguous, read-only ``int64``
array. :func:`as_rows` and :func:`rows_len` accept both forms.

How a layer uses an indexer
---------------------------
After ``fit(X)``:

* at **fit and transform time** the output ``P`` has ``n_test_samples`` rows,
  row ``0`` of ``P`` being input row ``row_offset``. Every split whose
  ``test`` is not ``None`` (:meth:`BaseIndex.fold_fits`) writes its
  predictions for input rows ``test`` into ``P`` rows ``test - row_offset``,
  in the column block of its ``partition``. For every indexer here each cell
  of ``P`` (row, partition) is written by exactly one split.
* at **predict time** ``P`` has as many rows as the new input, and every
  split with ``fold == 0`` (:meth:`BaseIndex.full_fits`, one per partition)
  predicts all of them into its partition's column block.

A full fit that also writes at fit time (:class:`FullIndex`,
``BlendIndex(refit=False)``) therefore has ``fold == 0`` *and* a ``test``.

Differences from ML-Ensemble
----------------------------
* Rows are slices or arrays rather than ``(start, stop)`` tuples and lists
  of tuples, and the splits are generated once at fit time (so a randomised
  scikit-learn splitter is drawn once and stays consistent).
* :class:`BlendIndex` exposes ``row_offset = n_train``. ML-Ensemble assumed the
  output rows were the *last* ``n_test`` input rows, which is wrong when
  ``train_size + test_size < n``: propagated features and targets were
  then taken from the wrong rows.
* :class:`ClusteredSubsetIndex` fold fits train on the partition minus one
  fold and predict that fold. ML-Ensemble's version trained on one fold and
  predicted the rest.
* :class:`SplitterIndex` adapts any scikit-learn splitter, and
  :func:`check_index` turns the usual ``cv`` arguments (``None``, an int, a
  splitter) into an indexer.

ML-Ensemble's interface, for code written for it
-------------------------------------------------
The indexers also take ML-Ensemble's arguments: ``X=`` (fit at
construction), ``folds=`` (for ``n_splits``), ``BlendIndex(rebase=)`` and
``ClusteredSubsetIndex(partition_estimator=)``; ``generate(X, as_array=)``
and ``partition(X, as_array=)`` yield ML-Ensemble's ``(train, test)`` pairs
of ``(start, stop)`` tuples (or of index arrays), and :func:`partition`,
:func:`prune_train` and :func:`make_tuple` are ML-Ensemble's helpers. All of
these exist for compatibility only; ``fit(X)``, ``generate()`` (the
:class:`Split` list), :meth:`BaseIndex.full_fits` and ``row_offset`` say the
same more directly. ML-Ensemble's module paths are kept:
``mlcore.index.base`` (``BaseIndex``, ``FullIndex``, ``partition``,
``prune_train``, ``make_tuple``), ``.fold``, ``.blend``, ``.subsemble`` and
``.temporal`` hold the same objects as :mod:`mlcore.index`.

The seven indexers share one row format, one set of validation rules and
the :class:`BaseIndex` machinery, so they stay in one module; about half of
its lines are docstrings with doctest examples (about 460 lines of code).
"""
import copy
import inspect
import numbers
import warnings
from collections import namedtuple

import numpy as np

from ._compat import submodule
from .exceptions import LayerSpecificationError, NotFittedError

__all__ = [
    "Split",
    "BaseIndex",
    "FoldIndex",
    "BlendIndex",
    "SubsetIndex",
    "ClusteredSubsetIndex",
    "TemporalIndex",
    "FullIndex",
    "SplitterIndex",
    "INDEXERS",
    "check_index",
    "make_index",
    "repeat_folds",
    "as_rows",
    "rows_len",
    "partition",
    "prune_train",
    "make_tuple",
]

Split = namedtuple("Split", "partition fold train test")
Split.__doc__ = """One fit of a layer's estimator: ``(partition, fold, train, test)``.

Parameters
----------
partition : int
    The partition (column block) this fit belongs to, ``>= 0``.
fold : int
    ``0`` for the full fit of the partition (the one used to predict new
    data), ``j >= 1`` for fold fit ``j``.
train : slice or ndarray of int64
    The input rows the estimator is fitted on.
test : slice or ndarray of int64 or None
    The input rows predicted at fit and transform time, or ``None``.
"""

_FIT_JOBS = ("fit", "evaluate")
_JOBS = _FIT_JOBS + ("transform", "predict")


###############################################################################
# Row helpers

def as_rows(rows, n=None):
    """Return a set of rows as an ``int64`` array.

    Parameters
    ----------
    rows : slice, array-like of int or None
        Rows in the format of :class:`Split` (a slice, or an integer array).
        ``None`` (a split that predicts nothing) means no rows.
    n : int, optional
        The number of rows of the array being indexed. Needed only for a
        slice whose ``start`` or ``stop`` is ``None`` or negative.

    Returns
    -------
    ndarray of int64
        The row numbers. An ``int64`` array is returned as it is (no copy).

    Examples
    --------
    >>> as_rows(slice(2, 5))
    array([2, 3, 4])
    >>> as_rows(None)
    array([], dtype=int64)
    """
    if rows is None:
        return np.empty(0, dtype=np.int64)
    if isinstance(rows, slice):
        return np.arange(*_slice_range(rows, n), dtype=np.int64)
    return np.asarray(rows, dtype=np.int64)


def rows_len(rows, n=None):
    """Return the number of rows in a set of rows.

    Parameters
    ----------
    rows : slice, array-like of int or None
        Rows in the format of :class:`Split`; ``None`` counts as no rows.
    n : int, optional
        The number of rows of the array being indexed. Needed only for a
        slice whose ``start`` or ``stop`` is ``None`` or negative.

    Returns
    -------
    int

    Examples
    --------
    >>> rows_len(slice(2, 5)), rows_len(None), rows_len([0, 4])
    (3, 0, 2)
    """
    if rows is None:
        return 0
    if isinstance(rows, slice):
        return len(range(*_slice_range(rows, n)))
    return len(rows)


def _slice_range(rows, n):
    """(start, stop, step) of a slice, resolved against n if given."""
    if n is not None:
        return rows.indices(n)
    start, stop, step = rows.start, rows.stop, rows.step
    if (start is None or stop is None or start < 0 or stop < 0):
        raise ValueError("the slice %r needs the number of rows n to be "
                         "resolved" % (rows,))
    return start, stop, 1 if step is None else step


def _compact(rows):
    """Rows (a sorted int array) as a slice when contiguous, else as a
    private, C-contiguous, read-only int64 array."""
    rows = np.array(rows, dtype=np.int64, order="C", copy=True)
    size = rows.shape[0]
    if size == 0:
        return slice(0, 0)
    first, last = int(rows[0]), int(rows[-1])
    if last - first + 1 == size and (size == 1 or bool(np.all(np.diff(rows) == 1))):
        return slice(first, last + 1)
    rows.setflags(write=False)
    return rows


def _fold_bounds(n, k):
    """Boundaries of k contiguous folds over n rows, sized like sklearn's
    KFold: the first ``n % k`` folds have one row more."""
    base, extra = divmod(n, k)
    bounds = [0]
    for j in range(k):
        bounds.append(bounds[-1] + base + (1 if j < extra else 0))
    return bounds


def _num_samples(X):
    """Number of rows of X (dense, sparse, pandas or a sequence)."""
    shape = getattr(X, "shape", None)
    if shape is not None:
        try:
            if len(shape) >= 1:
                return int(shape[0])
        except TypeError:
            pass
    if X is None or isinstance(X, (str, bytes)) or not hasattr(X, "__len__"):
        raise TypeError("expected an array-like with rows, got %s"
                        % type(X).__name__)
    return len(X)


###############################################################################
# Parameter checks

def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_int(value, name, low, owner):
    """value as an int >= low, else ValueError."""
    if not _is_int(value):
        raise ValueError("%s: %s must be an integer, got %r"
                         % (owner, name, value))
    value = int(value)
    if value < low:
        raise ValueError("%s: %s must be >= %d, got %d"
                         % (owner, name, low, value))
    return value


def _check_n_splits(n_splits, raise_on_exception, owner):
    """Validate a number of folds.

    Returns the number of folds, or ``1`` when ``n_splits == 1`` is
    accepted because ``raise_on_exception`` is False (with a warning): the
    caller then degrades to in-sample predictions, as ML-Ensemble did.
    """
    if not _is_int(n_splits):
        raise ValueError("%s: n_splits must be an integer, got %r"
                         % (owner, n_splits))
    n_splits = int(n_splits)
    if n_splits == 1 and not raise_on_exception:
        warnings.warn("%s: n_splits=1 gives no out-of-sample predictions: "
                      "each full fit predicts its own training rows at fit "
                      "time (in-sample)." % owner, UserWarning, stacklevel=4)
        return 1
    if n_splits < 2:
        raise ValueError("%s: need at least 2 folds (n_splits >= 2) to make "
                         "out-of-sample predictions, got n_splits=%d"
                         % (owner, n_splits))
    return n_splits


def _subsemble_sizes(index):
    """``(class name, partitions, n_splits)`` of a subsemble indexer,
    checked."""
    name = type(index).__name__
    return (name, _check_int(index.partitions, "partitions", 1, name),
            _check_n_splits(index.n_splits, index.raise_on_exception, name))


def _subsemble_splits(parts, n_splits, n):
    """Splits of a subsemble over the given partitions.

    ``parts`` is a list of sorted int64 arrays (the rows of each partition).
    Fold ``j`` of the data is the union over partitions of fold ``j`` of
    each partition (contiguous KFold-sized chunks of that partition's rows).
    Fold fit ``(i, j)`` trains on partition ``i`` minus its fold ``j`` and
    predicts fold ``j`` of the whole data into partition ``i``'s columns.
    With ``n_splits == 1`` each partition's full fit predicts all rows.
    """
    if n_splits == 1:
        return [Split(i, 0, _compact(p), slice(0, n))
                for i, p in enumerate(parts)]
    bounds = [_fold_bounds(len(p), n_splits) for p in parts]
    tests = []
    for j in range(n_splits):
        test = np.concatenate([p[b[j]:b[j + 1]] for p, b in zip(parts, bounds)])
        test.sort()
        tests.append(_compact(test))
    splits = []
    for i, (p, b) in enumerate(zip(parts, bounds)):
        splits.append(Split(i, 0, _compact(p), None))
        for j in range(n_splits):
            train = np.concatenate((p[:b[j]], p[b[j + 1]:]))
            splits.append(Split(i, j + 1, _compact(train), tests[j]))
    return splits


###############################################################################
# ML-Ensemble's row helpers (compatibility)

def partition(n, p):
    """Sizes of ``p`` contiguous partitions of ``n`` rows (ML-Ensemble).

    The first ``n % p`` partitions have one row more, as the folds of
    scikit-learn's ``KFold`` and of every indexer here.

    Compatibility function from ``mlens.index``; the indexers compute their
    partitions themselves (read them from :meth:`BaseIndex.full_fits`).

    Parameters
    ----------
    n : int
        Number of rows, ``>= 0``.
    p : int
        Number of partitions, ``>= 1``.

    Returns
    -------
    ndarray of int64 of shape (p,)

    Examples
    --------
    >>> partition(8, 3)
    array([3, 3, 2])
    """
    n = _check_int(n, "n", 0, "partition")
    p = _check_int(p, "p", 1, "partition")
    return np.diff(np.asarray(_fold_bounds(n, p), dtype=np.int64))


def prune_train(start_below, stop_below, start_above, stop_above):
    """The training rows around a test block, as ML-Ensemble's tuple of
    ``(start, stop)`` ranges, leaving out an empty range.

    Compatibility function from ``mlens.index``; indexers here give the
    training rows of a split directly (``Split.train``).

    Parameters
    ----------
    start_below, stop_below : int
        The range of rows before the test block.
    start_above, stop_above : int
        The range of rows after it.

    Returns
    -------
    tuple of (int, int)

    Examples
    --------
    >>> prune_train(0, 0, 3, 10), prune_train(0, 3, 6, 10)
    (((3, 10),), ((0, 3), (6, 10)))
    """
    if start_below == stop_below:
        return ((start_above, stop_above),)
    if start_above == stop_above:
        return ((start_below, stop_below),)
    return ((start_below, stop_below), (start_above, stop_above))


def make_tuple(arr):
    """Condense sorted row numbers into a list of ``(start, stop)`` ranges.

    Compatibility function from ``mlens.index``; mlcore keeps rows as a
    slice or an array (see :func:`as_rows`). Repeated row numbers fall in
    the range they repeat.

    Parameters
    ----------
    arr : array-like of int
        Row numbers in increasing order.

    Returns
    -------
    list of (int, int)

    Examples
    --------
    >>> make_tuple([0, 1, 2, 5, 6, 8, 9, 10])
    [(0, 3), (5, 7), (8, 11)]
    """
    arr = np.asarray(arr, dtype=np.int64).ravel()
    if arr.size == 0:
        return []
    step = np.diff(arr)
    if (step < 0).any():
        raise ValueError("make_tuple: the row numbers must be in increasing "
                         "order")
    cuts = np.flatnonzero(step > 1) + 1
    starts = np.concatenate(([0], cuts))
    stops = np.concatenate((cuts, [arr.size]))
    return [(int(arr[a]), int(arr[b - 1]) + 1) for a, b in zip(starts, stops)]


def _mlens_rows(rows, n, form, as_array, shift=0):
    """Rows of a Split in ML-Ensemble's format.

    ``form`` is ``'tuple'`` (one ``(start, stop)``; a tuple of them if the
    rows are not contiguous), ``'tuples'`` (a tuple of ranges) or ``'list'``
    (a list of ranges). With ``as_array`` a new, writable int64 array.
    ``shift`` is subtracted from every row number (``rebase``).
    """
    arr = as_rows(rows, n)
    if shift:
        arr = arr - shift
    if as_array:
        return np.array(arr, dtype=np.int64)
    runs = make_tuple(arr)
    if form == "list":
        return runs
    if form == "tuple" and len(runs) == 1:
        return runs[0]
    return tuple(runs)


# ML-Ensemble's parameter names that set_params maps to mlcore's
_SET_PARAMS_ALIASES = {"folds": "n_splits", "partition_estimator": "estimator"}


def _resolve_alias(value, default, alias, name, alias_name, owner):
    """``value`` of ``name``, or the ML-Ensemble alias if given."""
    if alias is None:
        return value
    if value != default and value != alias:
        raise TypeError("%s: got both %s=%r and its alias %s=%r; give only "
                        "%s" % (owner, name, value, alias_name, alias, name))
    return alias


def _clone(estimator):
    """An unfitted copy of estimator (sklearn.base.clone when available)."""
    try:
        from sklearn.base import clone
    except ImportError:  # pragma: no cover - scikit-learn is optional
        return copy.deepcopy(estimator)
    return clone(estimator, safe=False)


###############################################################################
# Base class

class BaseIndex:
    """Base class of the indexers.

    Subclasses implement :meth:`_make_splits`; everything else (the fitted
    attributes, job handling, parameters, ``repr``) is shared. Indexers do
    not depend on scikit-learn, but follow its parameter conventions: the
    constructor only stores its arguments, which are validated by
    :meth:`fit`, and :meth:`get_params`/:meth:`set_params` expose them so
    that ``sklearn.base.clone`` works on estimators that hold an indexer.
    Indexers are picklable and deep-copyable, fitted or not.

    Attributes
    ----------
    n_samples : int or None
        Rows of the input at the last call of :meth:`fit` (for
        ``job='predict'``, the rows of the new data, which is also the number
        of rows of ``P`` at predict time).
    n_test_samples : int or None
        Rows of the output ``P`` at fit and transform time.
    row_offset : int or None
        The input row that row ``0`` of ``P`` corresponds to at fit and
        transform time. The fit-time ``P`` covers input rows
        ``[row_offset, row_offset + n_test_samples)``.
    partitions : int or None
        Number of partitions, i.e. of column blocks each learner writes.
    folds : int or None
        Number of fold fits (splits with ``fold >= 1``) per partition. For
        :class:`FoldIndex`, :class:`SubsetIndex` and
        :class:`ClusteredSubsetIndex`, ML-Ensemble's name of their
        parameter ``n_splits`` (read and set; ``n_splits=1`` makes no fold
        fit).
    splits_ : list of Split or None
        The splits generated at fit time.
    __fitted__ : bool
        Whether the indexer has been fitted.
    """

    # Constructor arguments kept for ML-Ensemble that are not parameters
    # (get_params leaves them out, so clone and repr see only the real ones).
    _compat_params = ("X", "y", "folds", "partition_estimator")
    # Parameters that repr omits while they hold this default.
    _quiet_defaults = {}
    # ML-Ensemble's format of the (train, test) rows of generate(as_array=).
    _mlens_format = ("tuples", "tuple")
    # ML-Ensemble's format of partition(): None yields one None (all rows).
    _mlens_partition_format = None
    # How many fold fits predict each output cell at fit time; a layer
    # averages them (only a repeated splitter predicts a row more than once).
    n_repeats = 1

    def __init__(self):
        self._reset()

    def _compat_fit(self, X, y=None):
        """Fit at construction when ML-Ensemble's ``X=`` was given."""
        if X is not None:
            self.fit(X, y)

    def _reset(self):
        self.n_samples = None
        self.n_test_samples = None
        self.row_offset = None
        self._record_folds(None)
        self.splits_ = None
        self._n_fit_samples = None
        self.__fitted__ = False

    # ------------------------------------------------------------------ API

    def fit(self, X, y=None, job="fit", groups=None):
        """Fit the indexer to the input of a job.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame
            The layer's input. Most indexers use only ``X.shape[0]``;
            :class:`ClusteredSubsetIndex` and :class:`SplitterIndex` pass
            ``X`` on to their estimator or splitter.
        y : array-like, optional
            Targets, for indexers that use them (a stratified splitter, a
            partition estimator fitted on ``y``).
        job : {'fit', 'evaluate', 'transform', 'predict'}, default='fit'
            ``'fit'`` (or ``'evaluate'``, or ``None``) generates and stores the
            splits. ``'transform'`` replays the fit: it checks that ``X`` has
            the fit-time number of rows and keeps the splits.
            ``'predict'`` only records ``n_samples = X.shape[0]`` (the rows of
            the predict-time ``P``) and keeps the splits of the fit.
        groups : array-like, optional
            Group labels, used by :class:`SplitterIndex` (they take
            precedence over its ``groups`` parameter).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For settings that cannot produce valid splits on ``X`` (more
            folds than rows, an empty training set, ...), an unknown job, or
            ``job='transform'`` with a different number of rows than at fit.
        NotFittedError
            For ``job='transform'`` or ``'predict'`` before any fit.
        """
        if job is None:
            job = "fit"
        if job not in _JOBS:
            raise ValueError("%s.fit: job must be one of %s, got %r"
                             % (type(self).__name__, ", ".join(_JOBS), job))
        n = _num_samples(X)
        if job not in _FIT_JOBS:
            self._check_fitted()
            if job == "transform" and n != self._n_fit_samples:
                raise ValueError(
                    "%s: transform replays the fit-time predictions and needs "
                    "the training input (%d rows), got %d rows; use predict "
                    "for new data" % (type(self).__name__,
                                      self._n_fit_samples, n))
            self.n_samples = n
            return self
        if n < 1:
            raise ValueError("%s: cannot index an input with no rows"
                             % type(self).__name__)
        splits, n_test, offset, partitions, folds = self._make_splits(
            X, y, groups, n)
        # Assign only after everything validated: a failed fit leaves a
        # previous fit intact.
        self.splits_ = splits
        self.n_samples = self._n_fit_samples = n
        self.n_test_samples = n_test
        self.row_offset = offset
        if self.partitions != partitions:
            self.partitions = partitions
        self._record_folds(folds)
        self.__fitted__ = True
        return self

    def generate(self, X=None, as_array=None):
        """Return the splits generated at fit time.

        Parameters
        ----------
        X, as_array : optional
            Compatibility with ML-Ensemble, whose ``generate(X=None,
            as_array=False)`` yielded ``(train, test)`` pairs. Giving either
            returns such an iterator instead of the Split list: one pair
            per split that writes predictions at fit time
            (:meth:`fold_fits`), in order, with rows as ML-Ensemble's
            ``(start, stop)`` tuples (a tuple or list of them when not
            contiguous), or as new index arrays when ``as_array`` is true.
            ``X`` is fitted on first if the indexer is not fitted yet (and
            ignored otherwise, as in ML-Ensemble). New code calls
            ``fit(X)`` and then ``generate()``.

        Returns
        -------
        list of Split
            A new list holding the stored splits: full fits and fold fits,
            ordered by partition, then fold. (An iterator of pairs when
            ``X`` or ``as_array`` is given.)

        Raises
        ------
        NotFittedError
            If the indexer has not been fitted (and no ``X`` is given).

        Examples
        --------
        >>> import numpy as np
        >>> idx = FoldIndex(3)
        >>> list(idx.generate(np.zeros(7), as_array=False))
        [(((3, 7),), (0, 3)), (((0, 3), (5, 7)), (3, 5)), (((0, 5),), (5, 7))]
        >>> [test for train, test in idx.generate(as_array=True)]
        [array([0, 1, 2]), array([3, 4]), array([5, 6])]
        """
        if X is not None or as_array is not None:
            return self._generate_compat(X, bool(as_array))
        self._check_fitted()
        return list(self.splits_)

    def _generate_compat(self, X=None, as_array=False):
        """ML-Ensemble's ``generate(X, as_array)``; see :meth:`generate`."""
        if not self.__fitted__:
            if X is None:
                raise NotFittedError(
                    "%s: no rows to index; pass X to generate, or call "
                    "fit(X) first" % type(self).__name__)
            self.fit(X)
        n = self._n_fit_samples
        shift = self._mlens_test_shift()
        train_form, test_form = self._mlens_format
        pairs = [(_mlens_rows(s.train, n, train_form, as_array),
                  _mlens_rows(s.test, n, test_form, as_array, shift))
                 for s in self.fold_fits()]
        return iter(pairs)

    def _mlens_test_shift(self):
        return 0

    def partition(self, X=None, as_array=False):
        """ML-Ensemble's partition generator: the rows of each partition.

        Compatibility method from ``mlens.index``; use
        :meth:`full_fits` (``Split.train`` of each is the rows of one
        partition).

        Parameters
        ----------
        X : array-like, optional
            Fitted on first if the indexer is not fitted yet.
        as_array : bool, default=False
            Yield index arrays instead of ``(start, stop)`` tuples.

        Returns
        -------
        iterator
            One ``None`` (meaning all rows) for indexers without partitions,
            as in ML-Ensemble; for :class:`SubsetIndex` a ``(start, stop)``
            tuple per partition and for :class:`ClusteredSubsetIndex` a list
            of them.
        """
        if not self.__fitted__ and X is not None:
            self.fit(X)
        self._check_fitted()
        form = self._mlens_partition_format
        if form is None:
            return iter([None])
        n = self._n_fit_samples
        return iter([_mlens_rows(s.train, n, form, as_array)
                     for s in self.full_fits()])

    def full_fits(self):
        """Return the full fits (``fold == 0``), one per partition.

        These are the fits used at predict time: each predicts all rows into
        its partition's column block.

        Returns
        -------
        list of Split
        """
        return [s for s in self.generate() if s.fold == 0]

    def fold_fits(self):
        """Return the splits that write predictions at fit/transform time.

        These are the splits with ``test is not None``: the fold fits, plus
        the full fit of :class:`FullIndex` and ``BlendIndex(refit=False)``.

        Returns
        -------
        list of Split
        """
        return [s for s in self.generate() if s.test is not None]

    # ----------------------------------------------------------- parameters

    @classmethod
    def _get_param_names(cls):
        init = cls.__init__
        if init is object.__init__:
            return []
        params = inspect.signature(init).parameters.values()
        return [p.name for p in params if p.name != "self"
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                and p.name not in cls._compat_params]

    def get_params(self, deep=True):
        """Return the constructor parameters.

        Parameters
        ----------
        deep : bool, default=True
            Also return the parameters of parameters that have
            ``get_params`` (e.g. the partition estimator), as
            ``'<param>__<name>'``.

        Returns
        -------
        dict
        """
        out = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                for key, val in value.get_params().items():
                    out["%s__%s" % (name, key)] = val
            out[name] = value
        return out

    def set_params(self, **params):
        """Set constructor parameters.

        Nested parameters of a parameter (``'estimator__n_clusters'``) are
        passed on to its ``set_params``. The fitted splits are not updated:
        fit again afterwards. ML-Ensemble's names ``folds`` and
        ``partition_estimator`` set ``n_splits`` and ``estimator``.

        Returns
        -------
        self
        """
        valid = self._get_param_names()
        nested = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            alias = _SET_PARAMS_ALIASES.get(name)
            if alias in valid:
                name = alias
            if name not in valid:
                raise ValueError("invalid parameter %r for %s; valid parameters "
                                 "are %s" % (name, type(self).__name__, valid))
            if sub:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def __repr__(self):
        params = self.get_params(deep=False)
        quiet = self._quiet_defaults
        args = ", ".join("%s=%s" % (k, _short_repr(v)) for k, v in params.items()
                         if not (k in quiet and v is quiet[k]))
        return "%s(%s)" % (type(self).__name__, args)

    def __setstate__(self, state):
        # Unpickled (and deep-copied) arrays come back writable: keep the
        # stored row arrays read-only so that no caller can alter the splits.
        self.__dict__.update(state)
        for split in self.__dict__.get("splits_") or ():
            for rows in (split.train, split.test):
                if isinstance(rows, np.ndarray):
                    rows.setflags(write=False)

    # ------------------------------------------------------------- internal

    def _record_folds(self, folds):
        """Set :attr:`folds` to the fitted number of fold fits."""
        self.folds = folds

    def _check_fitted(self):
        if not getattr(self, "__fitted__", False):
            raise NotFittedError("this %s is not fitted yet: call fit(X) first"
                                 % type(self).__name__)

    def _make_splits(self, X, y, groups, n):
        """Validate the parameters against X and build the splits.

        Returns
        -------
        (splits, n_test_samples, row_offset, partitions, folds)
        """
        raise NotImplementedError


def _short_repr(value):
    if isinstance(value, np.ndarray):
        return "array(shape=%r, dtype=%s)" % (value.shape, value.dtype)
    return repr(value)


class _FoldsParameter(object):
    """``folds`` of the indexers whose number of folds ML-Ensemble called
    ``folds``: the parameter ``n_splits`` under that name, read and set, so
    that ``idx.folds = 5`` and ``set_params(folds=5)`` take effect at the
    next fit, as in ML-Ensemble."""

    @property
    def folds(self):
        """ML-Ensemble's name of ``n_splits``: the number of folds (per
        partition); setting it sets ``n_splits``."""
        return self.n_splits

    @folds.setter
    def folds(self, value):
        self.n_splits = value

    def _record_folds(self, folds):
        pass  # n_splits is the number of folds


###############################################################################
# Indexers

class FoldIndex(_FoldsParameter, BaseIndex):
    """K-fold indexer for stacking (``SuperLearner``).

    The rows are cut into ``n_splits`` contiguous folds sized exactly like
    scikit-learn's ``KFold(n_splits)`` (the first ``n % n_splits`` folds have
    one row more). Fold fit ``j`` trains on every row outside fold ``j`` and
    predicts fold ``j``; the full fit trains on all rows.

    Parameters
    ----------
    n_splits : int, default=2
        Number of folds, ``2 <= n_splits <= n_samples``.
    X : array-like, optional
        Compatibility with ML-Ensemble: fit on ``X`` at construction. Prefer
        ``FoldIndex(k).fit(X)``.
    raise_on_exception : bool, default=True
        If False, ``n_splits=1`` is accepted with a warning, as in
        ML-Ensemble: the single full fit then writes in-sample predictions
        for all rows at fit time (like :class:`FullIndex`).
    folds : int, optional
        Compatibility alias of ``n_splits`` (ML-Ensemble's name); use
        ``n_splits``. It is not a parameter of ``get_params``.

    Attributes
    ----------
    n_samples, n_test_samples, row_offset, partitions, folds, splits_, __fitted__
        See :class:`BaseIndex`. ``n_test_samples == n_samples``,
        ``row_offset == 0``, ``partitions == 1``, ``folds == n_splits``.

    Examples
    --------
    >>> import numpy as np
    >>> for s in FoldIndex(3).fit(np.zeros((7, 2))).generate():
    ...     print(s)
    Split(partition=0, fold=0, train=slice(0, 7, None), test=None)
    Split(partition=0, fold=1, train=slice(3, 7, None), test=slice(0, 3, None))
    Split(partition=0, fold=2, train=array([0, 1, 2, 5, 6]), test=slice(3, 5, None))
    Split(partition=0, fold=3, train=slice(0, 5, None), test=slice(5, 7, None))
    """

    def __init__(self, n_splits=2, X=None, raise_on_exception=True, *,
                 folds=None):
        self.n_splits = _resolve_alias(n_splits, 2, folds, "n_splits",
                                       "folds", "FoldIndex")
        self.raise_on_exception = raise_on_exception
        self.partitions = 1
        self._reset()
        self._compat_fit(X)

    def _make_splits(self, X, y, groups, n):
        k = _check_n_splits(self.n_splits, self.raise_on_exception,
                            type(self).__name__)
        if k > n:
            raise ValueError("FoldIndex: cannot make n_splits=%d folds from "
                             "%d rows" % (k, n))
        if k == 1:
            return [Split(0, 0, slice(0, n), slice(0, n))], n, 0, 1, 0
        bounds = _fold_bounds(n, k)
        splits = [Split(0, 0, slice(0, n), None)]
        for j in range(k):
            start, stop = bounds[j], bounds[j + 1]
            if start == 0:
                train = slice(stop, n)
            elif stop == n:
                train = slice(0, start)
            else:
                train = _compact(np.concatenate(
                    (np.arange(0, start, dtype=np.int64),
                     np.arange(stop, n, dtype=np.int64))))
            splits.append(Split(0, j + 1, train, slice(start, stop)))
        return splits, n, 0, 1, k


class BlendIndex(BaseIndex):
    """Train/test indexer for blending (``BlendEnsemble``).

    The estimator is fitted on the first ``n_train`` rows and predicts the
    next ``n_test`` rows, ``[n_train, n_train + n_test)``. The output ``P`` at
    fit time holds only those rows: ``n_test_samples = n_test`` and
    ``row_offset = n_train``. With ``refit=True`` (the default, as in
    ML-Ensemble) a second fit on all rows is the one used at predict time;
    with ``refit=False`` the fit on the first ``n_train`` rows is used.

    Parameters
    ----------
    test_size : float or int, default=0.5
        A float in ``(0, 1)`` is a fraction of the rows,
        ``n_test = floor(test_size * n)``; an int is a number of rows.
    train_size : float, int or None, default=None
        As ``test_size``; ``None`` means all the rows not in the test set,
        ``n_train = n - n_test``.
    X : array-like, optional
        Compatibility with ML-Ensemble: fit on ``X`` at construction. Prefer
        ``BlendIndex(...).fit(X)``.
    raise_on_exception : bool, default=True
        Kept for compatibility with ML-Ensemble; invalid sizes always raise.
    rebase : bool, default=False
        Compatibility with ML-Ensemble's documented ``rebase``: the test rows
        yielded by ``generate(X, as_array=...)`` count from 0, i.e. they are
        the rows of the output ``P`` rather than of the input. It does not
        change the splits; new code reads ``row_offset`` (``P`` row =
        input row - ``row_offset``).
    refit : bool, default=True
        True: two splits, a full fit ``Split(0, 0, all rows, None)`` that
        predicts new data and a fold fit ``Split(0, 1, train, test)`` whose
        predictions of the test rows are the fit-time output (ML-Ensemble's
        splits). False: one split, ``Split(0, 0, train, test)``, which writes
        the fit-time output and predicts new data too (one fit instead of
        two; new data is predicted by the very model whose holdout
        predictions the next layer was trained on).

    Attributes
    ----------
    n_train, n_test : int
        The resolved sizes.
    n_samples, n_test_samples, row_offset, partitions, folds, splits_, __fitted__
        See :class:`BaseIndex`. ``partitions == 1``; ``folds`` is 1 with
        ``refit=True``, else 0.

    Notes
    -----
    Sizes are rounded down, as in ML-Ensemble. With
    ``train_size + test_size < n`` the last rows are not used at all by the
    fold fit (the full fit of ``refit=True`` uses them).
    ML-Ensemble then wrote the predictions to the wrong rows (it assumed the
    output covered the *last* ``n_test`` rows); here ``row_offset`` says
    exactly which input rows the output covers.

    Examples
    --------
    >>> import numpy as np
    >>> idx = BlendIndex(test_size=3, train_size=5).fit(np.zeros((10, 1)))
    >>> for s in idx.generate():
    ...     print(s)
    Split(partition=0, fold=0, train=slice(0, 10, None), test=None)
    Split(partition=0, fold=1, train=slice(0, 5, None), test=slice(5, 8, None))
    >>> idx.n_test_samples, idx.row_offset
    (3, 5)
    >>> BlendIndex(test_size=3, refit=False).fit(np.zeros((10, 1))).generate()
    [Split(partition=0, fold=0, train=slice(0, 7, None), test=slice(7, 10, None))]
    """

    _mlens_format = ("tuple", "tuple")
    _quiet_defaults = {"rebase": False, "refit": True}

    def __init__(self, test_size=0.5, train_size=None, X=None,
                 raise_on_exception=True, *, rebase=False, refit=True):
        self.test_size = test_size
        self.train_size = train_size
        self.raise_on_exception = raise_on_exception
        self.rebase = rebase
        self.refit = refit
        self.partitions = 1
        self.n_train = None
        self.n_test = None
        self._reset()
        self._compat_fit(X)

    def _mlens_test_shift(self):
        return self.row_offset if self.rebase else 0

    @staticmethod
    def _size(size, n, name):
        if isinstance(size, bool) or not isinstance(size, numbers.Real):
            raise ValueError("BlendIndex: %s must be a float in (0, 1) or a "
                             "positive int, got %r" % (name, size))
        if _is_int(size):
            rows = int(size)
        else:
            if not 0.0 < size < 1.0:
                raise ValueError("BlendIndex: a float %s must be in (0, 1), "
                                 "got %r" % (name, size))
            rows = int(np.floor(size * n))
        if rows < 1:
            raise ValueError("BlendIndex: %s=%r gives %d %s rows out of %d; "
                             "need at least 1" % (name, size, rows,
                                                  name[:-5], n))
        return rows

    def _make_splits(self, X, y, groups, n):
        n_test = self._size(self.test_size, n, "test_size")
        if self.train_size is None:
            n_train = n - n_test
            if n_train < 1:
                raise ValueError("BlendIndex: test_size=%r leaves no training "
                                 "rows out of %d" % (self.test_size, n))
        else:
            n_train = self._size(self.train_size, n, "train_size")
        if n_train + n_test > n:
            raise ValueError("BlendIndex: %d training + %d test rows exceed "
                             "the %d rows of the input"
                             % (n_train, n_test, n))
        self.n_train, self.n_test = n_train, n_test
        train, test = slice(0, n_train), slice(n_train, n_train + n_test)
        if not self.refit:
            return [Split(0, 0, train, test)], n_test, n_train, 1, 0
        splits = [Split(0, 0, slice(0, n), None), Split(0, 1, train, test)]
        return splits, n_test, n_train, 1, 1


class SubsetIndex(_FoldsParameter, BaseIndex):
    """Subsemble indexer: one estimator per partition of the rows.

    The rows are cut into ``partitions`` contiguous partitions (sized like
    ``KFold(partitions)``), and each partition into ``n_splits`` contiguous
    folds (sized like ``KFold(n_splits)`` over the partition). Fold ``j`` of
    the data is the union of fold ``j`` of every partition.

    For partition ``i`` the full fit ``(i, 0)`` trains on partition ``i``;
    fold fit ``(i, j)`` trains on partition ``i`` minus its fold ``j`` and
    predicts fold ``j`` of the data (of every partition) into the columns of
    partition ``i``. So at fit time row ``r`` in fold ``j`` gets, in the column
    of each partition ``i``, the prediction of fit ``(i, j)``, which never saw
    row ``r``.

    Parameters
    ----------
    partitions : int, default=2
        Number of partitions, ``>= 1``.
    n_splits : int, default=2
        Number of folds, ``>= 2``; every partition needs at least
        ``n_splits`` rows.
    X : array-like, optional
        Compatibility with ML-Ensemble: fit on ``X`` at construction. Prefer
        ``SubsetIndex(...).fit(X)``.
    raise_on_exception : bool, default=True
        If False, ``n_splits=1`` is accepted with a warning: each partition's
        full fit then predicts all rows at fit time (in-sample for its own
        rows).
    folds : int, optional
        Compatibility alias of ``n_splits`` (ML-Ensemble's name); use
        ``n_splits``.

    Attributes
    ----------
    n_samples, n_test_samples, row_offset, partitions, folds, splits_, __fitted__
        See :class:`BaseIndex`. ``n_test_samples == n_samples``,
        ``row_offset == 0``, ``folds == n_splits``.

    Examples
    --------
    >>> import numpy as np
    >>> for s in SubsetIndex(2, 2).fit(np.zeros(8)).generate():
    ...     print(s)
    Split(partition=0, fold=0, train=slice(0, 4, None), test=None)
    Split(partition=0, fold=1, train=slice(2, 4, None), test=array([0, 1, 4, 5]))
    Split(partition=0, fold=2, train=slice(0, 2, None), test=array([2, 3, 6, 7]))
    Split(partition=1, fold=0, train=slice(4, 8, None), test=None)
    Split(partition=1, fold=1, train=slice(6, 8, None), test=array([0, 1, 4, 5]))
    Split(partition=1, fold=2, train=slice(4, 6, None), test=array([2, 3, 6, 7]))
    """

    _mlens_format = ("tuples", "list")
    _mlens_partition_format = "tuple"

    def __init__(self, partitions=2, n_splits=2, X=None,
                 raise_on_exception=True, *, folds=None):
        self.partitions = partitions
        self.n_splits = _resolve_alias(n_splits, 2, folds, "n_splits",
                                       "folds", "SubsetIndex")
        self.raise_on_exception = raise_on_exception
        self._reset()
        self._compat_fit(X)

    def _make_splits(self, X, y, groups, n):
        name, p, k = _subsemble_sizes(self)
        if n // p < k:
            raise ValueError("%s: %d rows in %d partitions give partitions of "
                             "%d rows, fewer than n_splits=%d"
                             % (name, n, p, n // p, k))
        bounds = _fold_bounds(n, p)
        parts = [np.arange(bounds[i], bounds[i + 1], dtype=np.int64)
                 for i in range(p)]
        return _subsemble_splits(parts, k, n), n, 0, p, (0 if k == 1 else k)


class ClusteredSubsetIndex(_FoldsParameter, BaseIndex):
    """Subsemble indexer with partitions given by an estimator's labels.

    At fit time the partition estimator labels every row (by default with
    ``estimator.predict(X)``); partition ``i`` is the set of rows with the
    ``i``-th smallest label. Within each partition, its rows (in increasing
    order) are cut into ``n_splits`` contiguous folds sized like
    ``KFold(n_splits)``. The splits are then those of :class:`SubsetIndex`:
    the full fit ``(i, 0)`` trains on partition ``i``, and fold fit ``(i, j)``
    trains on partition ``i`` minus its fold ``j`` and predicts fold ``j`` of
    every partition.

    Parameters
    ----------
    estimator : object
        The partition estimator, e.g. ``KMeans(n_clusters=partitions)``. It
        must have ``fit`` (if ``fit_estimator``) and the method ``attr``
        returning one label per row.
    partitions : int, default=2
        The number of partitions, which must equal the number of distinct
        labels the estimator gives on the training rows.
    n_splits : int, default=2
        Number of folds, ``>= 2``; every partition needs at least
        ``n_splits`` rows.
    fit_estimator : bool, default=True
        Fit a copy (``sklearn.base.clone``) of ``estimator`` at every fit.
        If False, ``estimator`` must already be fitted and is used as it is.
    attr : str, default='predict'
        The estimator's method that returns the labels.
    partition_on : {'X', 'y', 'both'}, default='X'
        What the estimator is fitted on and labels: ``'X'`` fits on and
        labels ``X``; ``'y'`` fits on and labels ``y`` (a 1-D ``y`` is made a
        column); ``'both'`` fits with ``fit(X, y)`` and labels ``X``.
    raise_on_exception : bool, default=True
        If False, ``n_splits=1`` is accepted with a warning, as in
        :class:`SubsetIndex`.
    folds : int, optional
        Compatibility alias of ``n_splits``; use ``n_splits``.
    partition_estimator : object, optional
        Compatibility alias of ``estimator`` (ML-Ensemble's name); use
        ``estimator``. Reading ``partition_estimator`` gives the fitted
        copy once fitted (ML-Ensemble fitted the estimator in place), else
        ``estimator``; new code reads ``estimator_``.
    X, y : array-like, optional
        Compatibility with ML-Ensemble: fit on ``X`` (and ``y``) at
        construction. Prefer ``ClusteredSubsetIndex(...).fit(X, y)``.

    Attributes
    ----------
    estimator_ : object
        The fitted partition estimator.
    partition_labels_ : ndarray
        The estimator's label of each partition, in partition order.
    n_samples, n_test_samples, row_offset, partitions, folds, splits_, __fitted__
        See :class:`BaseIndex`. ``n_test_samples == n_samples``,
        ``row_offset == 0``, ``folds == n_splits``.

    Notes
    -----
    ML-Ensemble's version trained each fold fit on a single fold of the
    partition and predicted everything else; here a fold fit trains on all
    of its partition except the fold it predicts, as in :class:`SubsetIndex`.
    The partitions are only needed at fit time (``predict`` uses each
    partition's full fit on all rows), so the estimator is not used again
    after :meth:`fit`.
    """

    _mlens_format = ("list", "list")
    _mlens_partition_format = "list"

    def __init__(self, estimator=None, partitions=2, n_splits=2,
                 fit_estimator=True, attr="predict", partition_on="X",
                 raise_on_exception=True, *, folds=None,
                 partition_estimator=None, X=None, y=None):
        owner = "ClusteredSubsetIndex"
        self.estimator = _resolve_alias(estimator, None, partition_estimator,
                                        "estimator", "partition_estimator",
                                        owner)
        self.partitions = partitions
        self.n_splits = _resolve_alias(n_splits, 2, folds, "n_splits",
                                       "folds", owner)
        self.fit_estimator = fit_estimator
        self.attr = attr
        self.partition_on = partition_on
        self.raise_on_exception = raise_on_exception
        self._reset()
        self._compat_fit(X, y)

    @property
    def partition_estimator(self):
        """Compatibility name (ML-Ensemble's): the fitted partition
        estimator once fitted, else ``estimator``. Use ``estimator_``."""
        return getattr(self, "estimator_", self.estimator)

    def _make_splits(self, X, y, groups, n):
        name, p, k = _subsemble_sizes(self)
        if self.partition_on not in ("X", "y", "both"):
            raise ValueError("%s: partition_on must be 'X', 'y' or 'both', "
                             "got %r" % (name, self.partition_on))
        if self.estimator is None:
            raise ValueError("%s: no partition estimator given" % name)
        if self.partition_on != "X" and y is None:
            raise ValueError("%s: partition_on=%r needs y"
                             % (name, self.partition_on))
        if self.partition_on == "y":
            data = np.asarray(y)
            if data.ndim == 1:
                data = data.reshape(-1, 1)
        else:
            data = X

        est = self.estimator
        if self.fit_estimator:
            est = _clone(est)
            if self.partition_on == "both":
                est.fit(X, y)
            else:
                est.fit(data)
        method = getattr(est, self.attr, None)
        if not callable(method):
            raise ValueError("%s: the partition estimator %s has no method %r"
                             % (name, type(est).__name__, self.attr))
        labels = np.asarray(method(data))
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.shape != (n,):
            raise ValueError("%s: %s.%s returned labels of shape %r, expected "
                             "one label per row (%d,)"
                             % (name, type(est).__name__, self.attr,
                                labels.shape, n))
        uniq, inverse = np.unique(labels, return_inverse=True)
        if len(uniq) != p:
            raise ValueError("%s: the partition estimator gave %d distinct "
                             "labels on the training rows, expected "
                             "partitions=%d" % (name, len(uniq), p))
        order = np.argsort(inverse, kind="stable")
        counts = np.bincount(inverse, minlength=p)
        if counts.min() < k:
            raise ValueError("%s: partition %d (label %r) has %d rows, fewer "
                             "than n_splits=%d"
                             % (name, int(counts.argmin()),
                                uniq[counts.argmin()], counts.min(), k))
        ends = np.cumsum(counts)
        parts = [order[end - c:end].astype(np.int64)
                 for c, end in zip(counts, ends)]
        splits = _subsemble_splits(parts, k, n)
        self.estimator_ = est
        self.partition_labels_ = uniq
        return splits, n, 0, p, (0 if k == 1 else k)


class TemporalIndex(BaseIndex):
    """Rolling-origin indexer for time series (``TemporalEnsemble``).

    Starting at row ``burn_in``, the rows are predicted ``step_size`` at a
    time: for ``idx = burn_in, burn_in + step_size, ...`` (``idx < n``) a fold
    fit trains on rows ``[start, idx - lag)`` and predicts rows
    ``[idx, min(idx + step_size, n))``, with ``start = max(0, idx - lag -
    window)`` when ``window`` is set and ``0`` otherwise. The first fold
    fit always trains from row 0 and the full fit on all rows, as in
    ML-Ensemble, unless ``strict_window=True``.

    The fit-time output covers rows ``[burn_in, n)``:
    ``n_test_samples = n - burn_in`` and ``row_offset = burn_in``.

    Parameters
    ----------
    step_size : int, default=1
        Rows predicted per fold fit, ``>= 1``.
    burn_in : int or None, default=None
        The first predicted row; ``None`` means ``step_size``. Needs
        ``lag < burn_in < n``.
    window : int or None, default=None
        Size of the rolling training window, ``>= 1``; ``None`` trains on all
        earlier rows (an expanding window).
    lag : int, default=0
        Rows left out between the training rows and the predicted rows,
        ``>= 0``.
    X : array-like, optional
        Compatibility with ML-Ensemble: fit on ``X`` at construction. Prefer
        ``TemporalIndex(...).fit(X)``.
    raise_on_exception : bool, default=True
        Kept for compatibility with ML-Ensemble; invalid settings always
        raise.
    strict_window : bool, default=False
        With a ``window``: True bounds every fit by it, the first fold fit
        (rows ``[max(0, burn_in - lag - window), burn_in - lag)``) and the
        full fit (the last ``window`` rows) too, so that the model used to
        predict new data has seen as much history as the ones whose
        predictions trained the next layer. False (ML-Ensemble's splits):
        the first fold fit trains on ``[0, burn_in - lag)`` and the full fit
        on all rows. Without a ``window`` both are the same.

    Attributes
    ----------
    n_samples, n_test_samples, row_offset, partitions, folds, splits_, __fitted__
        See :class:`BaseIndex`. ``partitions == 1``; ``folds`` is the number
        of steps.

    Examples
    --------
    >>> import numpy as np
    >>> idx = TemporalIndex(step_size=2, burn_in=3, window=1, lag=1)
    >>> for s in idx.fit(np.zeros(8)).generate():
    ...     print(s)
    Split(partition=0, fold=0, train=slice(0, 8, None), test=None)
    Split(partition=0, fold=1, train=slice(0, 2, None), test=slice(3, 5, None))
    Split(partition=0, fold=2, train=slice(3, 4, None), test=slice(5, 7, None))
    Split(partition=0, fold=3, train=slice(5, 6, None), test=slice(7, 8, None))
    >>> idx.n_test_samples, idx.row_offset
    (5, 3)
    >>> idx = TemporalIndex(step_size=2, burn_in=3, window=1, lag=1,
    ...                     strict_window=True)
    >>> [(s.train.start, s.train.stop) for s in idx.fit(np.zeros(8)).generate()]
    [(7, 8), (1, 2), (3, 4), (5, 6)]
    """

    _mlens_format = ("tuple", "tuple")
    _quiet_defaults = {"strict_window": False}

    def __init__(self, step_size=1, burn_in=None, window=None, lag=0, X=None,
                 raise_on_exception=True, *, strict_window=False):
        self.step_size = step_size
        self.burn_in = burn_in
        self.window = window
        self.lag = lag
        self.raise_on_exception = raise_on_exception
        self.strict_window = strict_window
        self.partitions = 1
        self._reset()
        self._compat_fit(X)

    def _make_splits(self, X, y, groups, n):
        name = type(self).__name__
        step = _check_int(self.step_size, "step_size", 1, name)
        burn_in = step if self.burn_in is None else self.burn_in
        burn_in = _check_int(burn_in, "burn_in", 1, name)
        lag = _check_int(self.lag, "lag", 0, name)
        window = self.window
        if window is not None:
            window = _check_int(window, "window", 1, name)
        if burn_in - lag < 1:
            raise ValueError("%s: burn_in=%d with lag=%d leaves no training "
                             "rows for the first step (need burn_in > lag)"
                             % (name, burn_in, lag))
        if burn_in >= n:
            raise ValueError("%s: burn_in=%d leaves no rows to predict out of "
                             "%d" % (name, burn_in, n))
        strict = bool(self.strict_window) and window is not None
        full = slice(max(0, n - window), n) if strict else slice(0, n)
        splits = [Split(0, 0, full, None)]
        for j, idx in enumerate(range(burn_in, n, step)):
            stop = idx - lag
            windowed = window is not None and (j > 0 or strict)
            start = max(0, stop - window) if windowed else 0
            splits.append(Split(0, j + 1, slice(start, stop),
                                slice(idx, min(idx + step, n))))
        return splits, n - burn_in, burn_in, 1, len(splits) - 1


class FullIndex(BaseIndex):
    """Indexer of a single fit on all rows (meta layers).

    The one split trains on all rows and, at fit time, predicts them too
    (in-sample): ``Split(0, 0, slice(0, n), slice(0, n))``.

    Parameters
    ----------
    X : array-like, optional
        Compatibility with ML-Ensemble: fit on ``X`` at construction. Prefer
        ``FullIndex().fit(X)``.

    Attributes
    ----------
    n_samples, n_test_samples, row_offset, partitions, folds, splits_, __fitted__
        See :class:`BaseIndex`. ``n_test_samples == n_samples``,
        ``row_offset == 0``, ``partitions == 1``, ``folds == 0``.

    Examples
    --------
    >>> import numpy as np
    >>> FullIndex().fit(np.zeros(4)).generate()
    [Split(partition=0, fold=0, train=slice(0, 4, None), test=slice(0, 4, None))]
    """

    def __init__(self, X=None):
        self.partitions = 1
        self._reset()
        self._compat_fit(X)

    def _generate_compat(self, X=None, as_array=False):
        # ML-Ensemble's FullIndex yielded one (None, None): no slicing.
        if not self.__fitted__:
            super()._generate_compat(X, as_array)
        return iter([(None, None)])

    def _make_splits(self, X, y, groups, n):
        return [Split(0, 0, slice(0, n), slice(0, n))], n, 0, 1, 0


class SplitterIndex(BaseIndex):
    """Adapter for a scikit-learn splitter (``KFold``, ``StratifiedKFold``,
    ``GroupKFold``, ``TimeSeriesSplit``, ...).

    At fit time ``cv.split(X, y, groups)`` is called once and its splits are
    stored: fold fit ``j`` trains on the ``j``-th training set and predicts the
    ``j``-th test set (both sorted); the full fit trains on all rows.
    scikit-learn is not imported: any object with a ``split`` method that
    yields ``(train, test)`` pairs of row numbers (or boolean masks) works.

    The output ``P`` is one contiguous block of rows, so the test sets must
    cover either every row (``n_test_samples = n``, ``row_offset = 0``;
    e.g. ``KFold``, ``StratifiedKFold``, ``GroupKFold``) or exactly the rows
    from some row ``r`` on (``n_test_samples = n - r``, ``row_offset = r``;
    e.g. ``TimeSeriesSplit``), and every covered row must be predicted the
    same number of times: once by disjoint test sets, or ``n_repeats``
    times by a repeated splitter (``RepeatedKFold``,
    ``RepeatedStratifiedKFold``), whose out-of-fold predictions a layer
    averages. Other splitters (``ShuffleSplit``, ...) raise a ValueError.

    Parameters
    ----------
    cv : object
        The splitter.
    groups : array-like or None, default=None
        Group labels passed to ``cv.split``. Groups given to :meth:`fit` take
        precedence.

    Attributes
    ----------
    n_samples, n_test_samples, row_offset, partitions, folds, splits_, __fitted__
        See :class:`BaseIndex`. ``partitions == 1``; ``folds`` is the number
        of splits the splitter produced.
    n_repeats : int
        How many test sets hold each predicted row (1 unless the splitter
        repeats its folds).

    Notes
    -----
    Training sets are sorted but otherwise kept as given (a splitter that
    repeats training rows keeps the repeats). A split whose training and
    test sets share a row raises a ValueError, since its predictions would
    not be out of sample.
    """

    def __init__(self, cv, groups=None):
        self.cv = cv
        self.groups = groups
        self.partitions = 1
        self._reset()

    @staticmethod
    def _as_index(rows, n, what, j):
        rows = np.asarray(rows)
        if rows.dtype == bool:
            if rows.shape != (n,):
                raise ValueError("SplitterIndex: the %s mask of split %d has "
                                 "shape %r, expected (%d,)"
                                 % (what, j, rows.shape, n))
            return np.flatnonzero(rows).astype(np.int64)
        if rows.ndim != 1 or (rows.size and rows.dtype.kind not in "iu"):
            raise ValueError("SplitterIndex: the %s set of split %d must be a "
                             "1-D array of row numbers, got dtype %s, shape %r"
                             % (what, j, rows.dtype, rows.shape))
        rows = rows.astype(np.int64)
        if rows.size == 0:
            raise ValueError("SplitterIndex: split %d has an empty %s set"
                             % (j, what))
        if rows.min() < 0 or rows.max() >= n:
            raise ValueError("SplitterIndex: the %s set of split %d has row "
                             "numbers outside [0, %d)" % (what, j, n))
        return rows

    #: Whether the splits must give out-of-fold predictions: every row in
    #: at most one test set, and every row from some row on in one. An
    #: evaluation of scores, which writes no predictions, turns it off.
    _out_of_fold = True

    def _pairs(self, X, y, groups, n):
        """The splitter's (train, test) pairs: sorted row numbers, checked."""
        cv = self.cv
        if not callable(getattr(cv, "split", None)):
            raise ValueError("SplitterIndex: cv must have a split(X, y, "
                             "groups) method, got %r" % (cv,))
        groups = self.groups if groups is None else groups
        if groups is None:
            pairs = list(cv.split(X, y))
        else:
            pairs = list(cv.split(X, y, groups))
        if not pairs:
            raise ValueError("SplitterIndex: %r produced no splits" % (cv,))
        out = []
        for j, pair in enumerate(pairs):
            try:
                train, test = pair
            except (TypeError, ValueError):
                raise ValueError("SplitterIndex: split %d is not a (train, "
                                 "test) pair" % j) from None
            train = np.sort(self._as_index(train, n, "train", j))
            test = np.unique(self._as_index(test, n, "test", j))
            in_test = np.zeros(n, dtype=bool)
            in_test[test] = True
            if in_test[train].any():
                raise ValueError("SplitterIndex: the train and test sets of "
                                 "split %d share rows, so its predictions "
                                 "would not be out of sample" % j)
            out.append((train, test))
        return out

    def _make_splits(self, X, y, groups, n):
        pairs = self._pairs(X, y, groups, n)
        folds = [Split(0, j + 1, _compact(train), _compact(test))
                 for j, (train, test) in enumerate(pairs)]
        if not self._out_of_fold:
            return folds, n, 0, 1, len(pairs)
        counts = np.zeros(n, dtype=np.int64)
        for _, test in pairs:
            counts[test] += 1
        splits = [Split(0, 0, slice(0, n), None)] + folds
        covered = counts > 0
        repeats = int(counts.max())
        if (counts[covered] != repeats).any():
            raise ValueError(
                "SplitterIndex: %r predicts some rows more than once and "
                "others fewer times (their test sets overlap, as in "
                "ShuffleSplit). Out-of-fold predictions need every row "
                "predicted once, or the same number of times by a repeated "
                "splitter such as RepeatedKFold" % (self.cv,))
        offset = int(np.argmax(covered))
        if not covered[offset:].all():
            raise ValueError(
                "SplitterIndex: the test sets of %r leave rows unpredicted "
                "after row %d. Out-of-fold predictions must cover every row, "
                "or every row from some row on (rows may be left out only at "
                "the start, as with TimeSeriesSplit)" % (self.cv, offset))
        self.n_repeats = repeats
        return splits, n - offset, offset, 1, len(pairs)


###############################################################################
# Construction helpers

INDEXERS = {
    "stack": FoldIndex,
    "blend": BlendIndex,
    "subsemble": SubsetIndex,
    "clusteredsubsemble": ClusteredSubsetIndex,
    "full": FullIndex,
    "temporal": TemporalIndex,
}
"""Indexer classes by the layer kind names of ``SequentialEnsemble.add``."""


def check_index(cv=None, **kwargs):
    """Turn a ``cv``-style specification into an indexer.

    Parameters
    ----------
    cv : None, int, str, BaseIndex, BaseIndex subclass or splitter
        * ``None``: ``FoldIndex(2)``;
        * an int ``k``: ``FoldIndex(k)``;
        * a key of :data:`INDEXERS` (``'stack'``, ``'blend'``, ...) or an
          indexer class: that indexer, built with ``kwargs``;
        * an indexer instance: returned as it is;
        * an object with a ``split`` method (a scikit-learn splitter):
          ``SplitterIndex(cv)``.
    **kwargs
        Constructor arguments for the indexer being built (e.g.
        ``raise_on_exception``, or ``groups`` for a splitter). Not allowed
        with an indexer instance.

    Returns
    -------
    BaseIndex

    Raises
    ------
    TypeError
        For a specification of another kind, or kwargs with an instance.
    ValueError
        For an unknown indexer name.

    Examples
    --------
    >>> check_index(None), check_index(5)
    (FoldIndex(n_splits=2, raise_on_exception=True), FoldIndex(n_splits=5, raise_on_exception=True))
    >>> check_index("blend", test_size=0.3)
    BlendIndex(test_size=0.3, train_size=None, raise_on_exception=True)
    """
    if isinstance(cv, BaseIndex):
        if kwargs:
            raise TypeError("check_index: cannot apply %s to an indexer "
                            "instance" % sorted(kwargs))
        return cv
    if cv is None:
        return FoldIndex(2, **kwargs)
    if _is_int(cv):
        return FoldIndex(int(cv), **kwargs)
    if isinstance(cv, str):
        try:
            cls = INDEXERS[cv.lower()]
        except KeyError:
            raise ValueError("check_index: unknown indexer %r; choose from %s"
                             % (cv, sorted(INDEXERS))) from None
        return cls(**kwargs)
    if isinstance(cv, type) and issubclass(cv, BaseIndex):
        return cv(**kwargs)
    if not isinstance(cv, type) and callable(getattr(cv, "split", None)):
        return SplitterIndex(cv, **kwargs)
    raise TypeError("check_index: expected None, an int, an indexer name, an "
                    "indexer or a splitter with a split method, got %r" % (cv,))


make_index = check_index


def repeat_folds(indexer, n_repeats, random_state=None):
    """The K-fold ``indexer`` repeated ``n_repeats`` times, each time on a
    new shuffle of the rows, as scikit-learn's ``RepeatedKFold`` and
    ``RepeatedStratifiedKFold`` draw them.

    A layer on the result fits ``n_repeats * K`` fold models, predicts
    every row ``n_repeats`` times and averages those predictions (see
    :attr:`SplitterIndex.n_repeats`).

    Parameters
    ----------
    indexer : FoldIndex or SplitterIndex
        ``FoldIndex(k)`` or a ``KFold(k)`` splitter become
        ``RepeatedKFold(n_splits=k)``, a ``StratifiedKFold(k)``
        ``RepeatedStratifiedKFold(n_splits=k)`` (the repeats reshuffle the
        rows whether or not the given splitter shuffles).
    n_repeats : int
        ``>= 1``; 1 returns ``indexer`` itself.
    random_state : int, RandomState or None
        Seeds the shuffles (scikit-learn draws one per repeat from it),
        unless the given splitter has a ``random_state`` of its own
        (``KFold(k, shuffle=True, random_state=s)``): then ``s`` seeds
        them, so that the repeats are those of
        ``RepeatedKFold(n_splits=k, n_repeats=n_repeats, random_state=s)``.

    Returns
    -------
    BaseIndex

    Raises
    ------
    LayerSpecificationError
        For any other indexer or splitter, whose folds cannot be reshuffled.

    Examples
    --------
    >>> idx = repeat_folds(FoldIndex(3), 2, random_state=0).fit(np.zeros(9))
    >>> idx.n_repeats, idx.folds
    (2, 6)
    """
    if not _is_int(n_repeats) or n_repeats < 1:
        raise LayerSpecificationError(
            "n_repeats must be an int >= 1, got %r" % (n_repeats,))
    if n_repeats == 1:
        return indexer
    from sklearn.model_selection import (KFold, RepeatedKFold,
                                         RepeatedStratifiedKFold,
                                         StratifiedKFold)
    cv = getattr(indexer, "cv", None)
    if type(indexer) is FoldIndex:
        k, cls = indexer.n_splits, RepeatedKFold
    elif type(indexer) is SplitterIndex and type(cv) in (KFold,
                                                         StratifiedKFold):
        k = cv.n_splits
        cls = RepeatedKFold if type(cv) is KFold else RepeatedStratifiedKFold
        if cv.random_state is not None:  # the user's seed for the folds
            random_state = cv.random_state
    else:
        raise LayerSpecificationError(
            "n_repeats=%d repeats K folds on new shuffles of the rows, but "
            "the layer's folds are %r: use n_repeats with folds=None, an "
            "int, KFold or StratifiedKFold, or pass a repeated splitter "
            "(e.g. RepeatedKFold) as folds" % (n_repeats, cv or indexer))
    return SplitterIndex(cls(n_splits=k, n_repeats=int(n_repeats),
                             random_state=random_state))


# ML-Ensemble's module paths (mlens.index.base, .fold, ...)
for _name, _names in [("base", ["BaseIndex", "FullIndex", "partition",
                                "prune_train", "make_tuple"]),
                      ("fold", ["FoldIndex"]), ("blend", ["BlendIndex"]),
                      ("subsemble", ["SubsetIndex", "ClusteredSubsetIndex"]),
                      ("temporal", ["TemporalIndex"])]:
    submodule(__name__, _name, _names)
del _name, _names
