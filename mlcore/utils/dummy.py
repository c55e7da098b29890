"""Transparent scikit-learn estimators for tutorials and tests.

:class:`OLS` (least squares through the normal equations),
:class:`LogisticRegression` (one-vs-rest sigmoids of :class:`OLS` fits) and
:class:`Scale` (remove the column means) have results that are easy to work
out by hand, which makes them handy for checking what an ensemble or a
learner does with each fold. They are the ``mlens.utils.dummy`` estimators
of ML-Ensemble's tutorials and tests, kept for compatibility; for real work
use ``sklearn.linear_model.LinearRegression``,
``sklearn.linear_model.LogisticRegression`` and
``sklearn.preprocessing.StandardScaler(with_std=False)``.
"""
import numpy as np

try:
    from sklearn.base import (BaseEstimator, ClassifierMixin, RegressorMixin,
                              TransformerMixin)
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

__all__ = ["OLS", "LogisticRegression", "Scale"]


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


class LogisticRegression(ClassifierMixin, BaseEstimator):
    """One-vs-rest classifier: for each class an :class:`OLS` fit of the
    0/1 indicator of that class, squashed with the logistic function.

    ML-Ensemble's ``mlens.utils.dummy.LogisticRegression``, kept for
    compatibility: a transparent classifier for tests, not a real logistic
    regression (use ``sklearn.linear_model.LogisticRegression`` for that).

    Parameters
    ----------
    offset : float, default=0
        Given to every :class:`OLS` fit, so that otherwise equal instances
        make different, predictable predictions. (ML-Ensemble 0.2.3
        documented this but ignored it: there ``offset`` had no effect.)

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The sorted class labels (also as ``labels_``, ML-Ensemble's name).
    coef_ : ndarray of shape (n_classes, n_features)
        Row ``k``: the :class:`OLS` coefficients of class ``k``'s indicator.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1., 0.], [0., 1.], [1., 0.], [0., 1.]])
    >>> y = np.array(["a", "b", "a", "b"])
    >>> clf = LogisticRegression().fit(X, y)
    >>> clf.coef_
    array([[1., 0.],
           [0., 1.]])
    >>> clf.predict_proba(X[:1]).round(3)  # [sigmoid(1), sigmoid(0)]
    array([[0.731, 0.5  ]])
    >>> clf.predict(X)
    array(['a', 'b', 'a', 'b'], dtype='<U1')
    """

    def __init__(self, offset=0):
        self.offset = offset

    def fit(self, X, y):
        """Fit one :class:`OLS` per class, on the indicator of that class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        X, y = _validate_data(self, X, y, dtype=np.float64)
        self.classes_ = np.unique(y)
        indicators = (y[:, None] == self.classes_).astype(np.float64)
        self.coef_ = np.vstack([
            OLS(offset=self.offset).fit(X, indicators[:, k]).coef_
            for k in range(len(self.classes_))])
        return self

    @property
    def labels_(self):
        """The class labels, ML-Ensemble's name for ``classes_``."""
        _check_fitted(self, "classes_")
        return self.classes_

    def predict_proba(self, X):
        """The logistic function of each class's least-squares score.

        As in ML-Ensemble the columns are one-vs-rest scores in ``(0, 1)``,
        one per class of ``classes_``; they are not normalised to sum to 1.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        _check_fitted(self, "coef_")
        X = _validate_data(self, X, reset=False, dtype=np.float64)
        return 1.0 / (1.0 + np.exp(-(X @ self.coef_.T)))

    def predict(self, X):
        """The class with the highest score of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels of ``classes_`` (ML-Ensemble returned them as floats).
        """
        proba = self.predict_proba(X)  # checks that it is fitted
        return self.classes_[proba.argmax(axis=1)]


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
