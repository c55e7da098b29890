"""Two transparent scikit-learn estimators for tutorials and tests.

:class:`OLS` (least squares through the normal equations) and
:class:`Scale` (remove the column means) have results that are easy to work
out by hand, which makes them handy for checking what an ensemble or a
learner does with each fold. They are the ``mlens.utils.dummy`` estimators
of ML-Ensemble's tutorials; for real work use
``sklearn.linear_model.LinearRegression`` and
``sklearn.preprocessing.StandardScaler(with_std=False)``.
"""
import numpy as np

try:
    from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
    from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
    from sklearn.utils.validation import check_is_fitted
except ImportError as exc:  # pragma: no cover - scikit-learn is an extra
    raise ImportError("mlcore.utils.dummy needs scikit-learn: "
                      "pip install 'mlcore[sklearn]'") from exc

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    def _validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)

from ..exceptions import NotFittedError

__all__ = ["OLS", "Scale"]


class _NotFittedError(NotFittedError, _SklearnNotFittedError):
    """Caught by ``except`` clauses for mlcore's (and ML-Ensemble's)
    NotFittedError and for scikit-learn's."""


def _check_fitted(estimator, attribute):
    try:
        check_is_fitted(estimator, attribute)
    except _SklearnNotFittedError:
        raise _NotFittedError("this %s is not fitted yet: call fit first"
                              % type(estimator).__name__) from None


class OLS(RegressorMixin, BaseEstimator):
    """Ordinary least squares without intercept, solved with
    ``numpy.linalg.lstsq``.

    Parameters
    ----------
    offset : float, default=0
        Added to every coefficient after fitting, so that otherwise equal
        instances make different, predictable predictions.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        The least-squares coefficients plus ``offset``.
    resid_ : ndarray
        The sums of squared residuals that ``lstsq`` returns (empty when
        ``X`` has rank below ``n_features`` or no more rows than columns).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(24.0).reshape(12, 2)
    >>> y = 3 * X[:, 0] - 0.5 * X[:, 1]
    >>> OLS().fit(X, y).coef_.round(10)
    array([ 3. , -0.5])
    >>> OLS(offset=1).fit(X, y).coef_.round(10)
    array([4. , 0.5])
    """

    def __init__(self, offset=0):
        self.offset = offset

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multioutput": True}

    def fit(self, X, y):
        """Fit the coefficients.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self
        """
        X, y = _validate_data(self, X, y, multi_output=True, y_numeric=True,
                              dtype=np.float64)
        coef, resid, _, _ = np.linalg.lstsq(X, y, rcond=None)
        # (n_features, n_targets) -> (n_targets, n_features), as in sklearn
        self.coef_ = coef.T + self.offset
        self.resid_ = resid
        return self

    def predict(self, X):
        """Predict ``X @ coef_.T``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        _check_fitted(self, "coef_")
        X = _validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.coef_.T


class Scale(TransformerMixin, BaseEstimator):
    """Subtract the column means learnt at fit.

    Parameters
    ----------
    copy : bool, default=True
        Kept from ML-Ensemble; the input is never modified (the result is
        always a new array).

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
        The column means of the training data.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(6).reshape(3, 2)
    >>> X[:, 1] *= 2
    >>> Scale().fit_transform(X)
    array([[-2., -4.],
           [ 0.,  0.],
           [ 2.,  4.]])
    """

    def __init__(self, copy=True):
        self.copy = copy

    def fit(self, X, y=None):
        """Learn the column means.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        X = _validate_data(self, X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        return self

    def transform(self, X):
        """Return ``X - mean_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        _check_fitted(self, "mean_")
        X = _validate_data(self, X, reset=False, dtype=np.float64)
        return X - self.mean_
