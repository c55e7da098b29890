"""Small transformers for building ensemble pipelines.

:class:`Subset` keeps a subset of the input columns (to give the learners of
a preprocessing case, or of one layer, only some of the features), and
:class:`Shift` is the lag operator for time series. Both are scikit-learn
transformers and take the arguments of ``mlens.preprocessing`` in
ML-Ensemble, so ``from mlcore.preprocessing import Subset, Shift`` is a
drop-in replacement (ML-Ensemble's module path
``mlcore.preprocessing.preprocess`` holds the same classes).
"""
import numbers

import numpy as np

try:
    from sklearn.base import BaseEstimator, TransformerMixin
except ImportError as exc:  # pragma: no cover - scikit-learn is an extra
    raise ImportError("mlcore.preprocessing needs scikit-learn: "
                      "pip install 'mlcore[sklearn]'") from exc

from ._compat import submodule
from .exceptions import NotFittedError

__all__ = ["Subset", "Shift"]


def _is_frame(X):
    """True for a pandas DataFrame or Series, without importing pandas."""
    return type(X).__name__ in ("DataFrame", "Series") and hasattr(X, "iloc")


def _n_rows(X):
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) >= 1:
        return int(shape[0])
    return len(X)


class Subset(TransformerMixin, BaseEstimator):
    """Keep a subset of the columns of the input.

    Parameters
    ----------
    subset : list of int or list of str, or None, default=None
        The columns to keep, in the order given. Strings are column labels
        and need a pandas DataFrame; integers are column positions (for a
        DataFrame as well, through ``iloc``). ``None`` keeps every column:
        ``transform`` then returns its input itself, not a copy.

    Attributes
    ----------
    is_df_ : bool
        Whether ``fit`` saw a pandas DataFrame or Series.
    use_loc_ : bool
        Whether ``subset`` holds column labels (set only when ``subset`` is
        not None).

    Notes
    -----
    Whether to select by label or by position is decided from the data
    given to ``transform`` (ML-Ensemble decided it at ``fit``), so a
    transformer fitted on a DataFrame also transforms the equivalent
    array, and the other way round, when ``subset`` holds positions.
    Dense arrays, scipy sparse matrices and DataFrames are accepted.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(12).reshape(3, 4)
    >>> Subset([0, 2]).fit_transform(X)
    array([[ 0,  2],
           [ 4,  6],
           [ 8, 10]])
    """

    def __init__(self, subset=None):
        self.subset = subset

    def fit(self, X, y=None):
        """Record the kind of input and of column index.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
        y : ignored
            Accepted for pipeline compatibility.

        Returns
        -------
        self
        """
        self._check_subset()
        self.is_df_ = _is_frame(X)
        if self.subset is not None:
            self.use_loc_ = any(isinstance(c, str) for c in self.subset)
        return self

    def transform(self, X, y=None, copy=False):
        """Return the columns ``subset`` of X.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
        y : ignored
            Accepted for pipeline compatibility.
        copy : bool, default=False
            Copy X before selecting. Selecting columns already copies them,
            so this matters only to code that relied on ML-Ensemble's
            argument.

        Returns
        -------
        X_subset : same kind as X, of shape (n_samples, len(subset))
            ``X`` itself when ``subset`` is None.
        """
        if self.subset is None:
            return X
        if not hasattr(self, "is_df_"):
            raise NotFittedError("this Subset is not fitted yet: call fit(X) "
                                 "first")
        self._check_subset()
        Xt = X.copy() if copy else X
        labels = any(isinstance(c, str) for c in self.subset)
        if _is_frame(Xt):
            if Xt.ndim == 1:
                raise ValueError("Subset selects columns: got a pandas Series, "
                                 "which has none; pass a DataFrame")
            return Xt.loc[:, list(self.subset)] if labels else \
                Xt.iloc[:, list(self.subset)]
        if labels:
            raise ValueError("Subset: column labels %r need a pandas "
                             "DataFrame, got %s; give column positions for "
                             "arrays" % (list(self.subset), type(X).__name__))
        if not hasattr(Xt, "shape"):
            Xt = np.asarray(Xt)
        if len(Xt.shape) != 2:
            raise ValueError("Subset: expected a 2-D input, got shape %r"
                             % (Xt.shape,))
        n_cols = Xt.shape[1]
        bad = [c for c in self.subset if not -n_cols <= c < n_cols]
        if bad:
            raise ValueError("Subset: column positions %r are out of range "
                             "for an input with %d columns" % (bad, n_cols))
        return Xt[:, list(self.subset)]

    def _check_subset(self):
        subset = self.subset
        if subset is None:
            return
        if isinstance(subset, (str, bytes)) or not hasattr(subset, "__iter__"):
            raise TypeError("Subset: subset must be a list of column positions "
                            "or labels, got %r" % (subset,))
        for c in subset:
            if not isinstance(c, (str, numbers.Integral)) or isinstance(c, bool):
                raise TypeError("Subset: columns must be ints or strings, got "
                                "%r in %r" % (c, subset))


class Shift(TransformerMixin, BaseEstimator):
    r"""Lag operator: drop the last ``s`` rows.

    For a series :math:`X = (X_0, X_1, ..., X_{n-1})` the output is
    :math:`(X_0, ..., X_{n-1-s})`, which lines up with
    ``X[s:]``: row ``t`` of the output is the value ``s`` steps before row
    ``t`` of ``X[s:]``. So ``Shift(s).fit_transform(X)`` are the ``s``-step
    lagged features for the targets ``y[s:]``.

    Parameters
    ----------
    s : int
        The number of steps to lag, ``0 <= s < n_samples``.

    Notes
    -----
    ``Shift(0)`` returns all rows. (ML-Ensemble's ``X[:-s]`` returned no
    rows at all for ``s=0``, and silently returned no rows for
    ``s >= n_samples``, which raises a ValueError here.)

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(10)
    >>> Shift(2).fit_transform(X)
    array([0, 1, 2, 3, 4, 5, 6, 7])
    >>> X[2:]
    array([2, 3, 4, 5, 6, 7, 8, 9])
    """

    def __init__(self, s):
        self.s = s

    def fit(self, X, y=None):
        """Check ``s``; nothing is learnt.

        Returns
        -------
        self
        """
        self._check_s(X)
        return self

    def transform(self, X):
        """Return the first ``n_samples - s`` rows of X.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or Series

        Returns
        -------
        X_lagged : same kind as X, of ``n_samples - s`` rows
        """
        stop = _n_rows(X) - self._check_s(X)
        if _is_frame(X):
            return X.iloc[:stop]
        return X[:stop]

    def _check_s(self, X):
        s = self.s
        if not isinstance(s, numbers.Integral) or isinstance(s, bool) or s < 0:
            raise ValueError("Shift: s must be an integer >= 0, got %r" % (s,))
        n = _n_rows(X)
        if s >= n:
            raise ValueError("Shift: lagging %d rows by s=%d leaves no rows"
                             % (n, s))
        return int(s)


submodule(__name__, "preprocess", ["Subset", "Shift"])  # ML-Ensemble's path
