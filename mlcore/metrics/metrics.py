"""Score functions ``f(y_true, y_pred)`` and the default scorer of a layer.

:func:`rmse`, :func:`mape` and :func:`wape` are the error measures of
``mlens.metrics.metrics``, at the same path (``mlcore.metrics.metrics``).
:func:`make_scorer` turns such a function into a scikit-learn scorer object
for :class:`mlcore.model_selection.Evaluator`.
"""
import numpy as np

__all__ = ["rmse", "mape", "wape", "make_scorer", "default_scorer"]


def _pair(y, p, name):
    """``y`` and ``p`` as float arrays of one value per row; ValueError
    when they do not line up."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if y.shape != p.shape:
        raise ValueError("%s: y and p must have the same shape (one "
                         "prediction per target), got %s and %s"
                         % (name, y.shape, p.shape))
    if y.size == 0:
        raise ValueError("%s: y and p are empty" % name)
    return y, p


def rmse(y, p):
    r"""Root mean squared error, :math:`\sqrt{\frac{1}{n}\sum_i (y_i -
    p_i)^2}`.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Ground truth.
    p : array-like of shape (n_samples,)
        Predictions.

    Returns
    -------
    float

    Examples
    --------
    >>> rmse([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    1.1547005383792515
    """
    y, p = _pair(y, p, "rmse")
    return float(np.sqrt(np.mean((y - p) ** 2)))


def mape(y, p):
    r"""Mean absolute percentage error, :math:`\frac{1}{n}\sum_i
    \frac{|y_i - p_i|}{|y_i|}` (a fraction: 0.1 is 10%).

    A zero in ``y`` gives ``inf`` (or NaN where ``p`` is zero too), as the
    formula says; :func:`wape` has no such term.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
    p : array-like of shape (n_samples,)

    Returns
    -------
    float
    """
    y, p = _pair(y, p, "mape")
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.mean(np.abs(y - p) / np.abs(y)))


def wape(y, p):
    r"""Weighted absolute percentage error, :math:`\frac{\sum_i |y_i -
    p_i|}{\sum_i |y_i|}`.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
    p : array-like of shape (n_samples,)

    Returns
    -------
    float
    """
    y, p = _pair(y, p, "wape")
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sum(np.abs(y - p)) / np.sum(np.abs(y)))


def make_scorer(score_func, greater_is_better=True, needs_proba=False,
                needs_threshold=False, **kwargs):
    """A scorer object ``scorer(estimator, X, y)`` from ``score_func(y_true,
    y_pred, **kwargs)``, with ML-Ensemble's signature.

    Kept for code written for ML-Ensemble, which shipped a copy of an old
    scikit-learn ``make_scorer``. This returns scikit-learn's own scorer
    (``needs_proba`` and ``needs_threshold`` become its
    ``response_method``), which :class:`mlcore.model_selection.Evaluator`
    accepts, as it accepts a plain ``f(y_true, y_pred)``, a scorer name or
    any other scikit-learn scorer. New code can pass the function itself.

    Parameters
    ----------
    score_func : callable
        ``score_func(y_true, y_pred, **kwargs)``.
    greater_is_better : bool, default=True
        False for losses: the scorer returns the negated value, so that a
        higher score is always better (as in ML-Ensemble and scikit-learn).
    needs_proba : bool, default=False
        Score ``predict_proba`` instead of ``predict``.
    needs_threshold : bool, default=False
        Score ``decision_function`` (else ``predict_proba``).
    **kwargs
        Passed on to ``score_func``.

    Returns
    -------
    scorer : callable

    Raises
    ------
    ValueError
        If both ``needs_proba`` and ``needs_threshold`` are set.
    ImportError
        If scikit-learn is not installed.

    Examples
    --------
    >>> from sklearn.dummy import DummyRegressor
    >>> scorer = make_scorer(rmse, greater_is_better=False)
    >>> est = DummyRegressor().fit([[0], [0]], [1.0, 3.0])
    >>> scorer(est, [[0], [0]], [1.0, 3.0])
    -1.0
    """
    if not callable(score_func):
        raise TypeError("make_scorer: score_func must be a function "
                        "f(y_true, y_pred), got %r" % (score_func,))
    if needs_proba and needs_threshold:
        raise ValueError("make_scorer: set at most one of needs_proba and "
                         "needs_threshold")
    try:
        from sklearn.metrics import make_scorer as sk_make_scorer
    except ImportError as exc:  # pragma: no cover
        raise ImportError("make_scorer needs scikit-learn: pip install "
                          "'mlcore[sklearn]' (or pass the function itself "
                          "to the Evaluator)") from exc
    method = "predict"
    if needs_proba:
        method = "predict_proba"
    elif needs_threshold:
        method = ("decision_function", "predict_proba")
    return sk_make_scorer(score_func, response_method=method,
                          greater_is_better=bool(greater_is_better), **kwargs)


def _accuracy(y, labels):
    return float(np.mean(np.asarray(y).ravel() == np.asarray(labels).ravel()))


def _r2(y, p):
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    ss_tot = np.sum((y - y.mean()) ** 2)
    if ss_tot == 0:
        return 0.0
    return float(1.0 - np.sum((y - p) ** 2) / ss_tot)


def check_prediction_scorer(scorer):
    """``scorer`` if it can score a layer's predictions, ``f(y_true,
    y_pred)``, or None; else a TypeError that says what to pass.

    Scorer names (``'r2'``) and scikit-learn scorer objects
    (``make_scorer``, ``get_scorer``) are called with an estimator, which a
    layer's fold predictions do not have: they are refused here rather
    than failing on every fold.
    """
    if scorer is None:
        return None
    what = None
    if isinstance(scorer, str):
        what = "the scorer name %r" % scorer
    elif is_estimator_scorer(scorer):
        what = "the scorer object %r, called as scorer(estimator, X, y)" % (
            scorer,)
    elif not callable(scorer):
        what = "%r, which is not callable" % (scorer,)
    if what is not None:
        raise TypeError(
            "scorer: got %s. An ensemble scores each learner's out-of-fold "
            "predictions with a function scorer(y_true, y_pred), such as "
            "sklearn.metrics.r2_score or accuracy_score (pass the function "
            "itself); scorer names and scorer objects are for the "
            "Evaluator and cross_validate_ensemble(scoring=)" % what)
    return scorer


def is_estimator_scorer(scorer):
    """True for scorer objects called as ``scorer(estimator, X, y)``."""
    try:
        from sklearn.metrics._scorer import _BaseScorer
    except ImportError:  # pragma: no cover
        _BaseScorer = ()
    if _BaseScorer and isinstance(scorer, _BaseScorer):
        return True
    # ML-Ensemble's vendored _PredictScorer/_ProbaScorer and look-alikes
    return hasattr(scorer, "_score_func") and hasattr(scorer, "_sign")


class default_scorer(object):
    """Score a prediction block of a learner.

    Accuracy for classifiers (class of the highest probability, or the
    predicted label), R^2 for regressors. A user scorer ``f(y, p)`` is
    wrapped so that it receives 1-D predictions for one-column blocks.
    For a 2-D ``y`` (multi-output), the block has one column per output:
    subset accuracy (every label of a row right) or the mean R^2 of the
    outputs, and a user scorer receives the block as it is.

    Parameters
    ----------
    classification : bool
    scorer : callable, optional
        ``scorer(y_true, y_pred)``.
    classes : ndarray, optional
        The class labels (sorted), for classification: a one-column block
        then holds positions in ``classes``, which are turned back into
        labels, so that ``y`` and the predictions a user scorer receives are
        both the user's labels. A block of class probabilities is passed on
        as it is (columns in the order of ``classes``).
    proba : bool, default=False
        Score class probabilities: a layer that passes on labels gives this
        scorer its learners' class probabilities of the held-out rows
        instead (where they have ``predict_proba``). Set for the meta layer
        of an ensemble whose layer before it passes on probabilities, so
        that the meta learner is scored as the base learners are.
    """

    def __init__(self, classification, scorer=None, classes=None,
                 proba=False):
        self.classification = classification
        self.scorer = check_prediction_scorer(scorer)
        self.classes = classes
        self.proba = bool(proba)

    @property
    def name(self):
        """The user scorer's name, or what the default scorer computes."""
        if self.scorer is None:
            return "accuracy" if self.classification else "R^2"
        return getattr(self.scorer, "__name__", repr(self.scorer))

    def _labels(self, positions):
        positions = np.rint(np.asarray(positions, dtype=np.float64))
        if self.classes is None:
            return positions
        idx = np.clip(positions, 0, len(self.classes) - 1).astype(np.intp)
        return np.asarray(self.classes)[idx]

    def received(self, y, block):
        """What the scorer is given for ``block``: 1-D for a one-column
        block (labels for classification), else the block itself."""
        block = np.asarray(block)
        if np.ndim(y) == 2:
            return block
        p = block[:, 0] if block.ndim == 2 and block.shape[1] == 1 else block
        if self.classification and p.ndim == 1:
            p = self._labels(p)
        return p

    def __call__(self, y, block):
        p = self.received(y, block)
        if np.ndim(y) == 2:
            return self._score_outputs(y, p)
        if self.scorer is not None:
            return float(self.scorer(y, p))
        if self.classification:
            if p.ndim == 2:
                p = self._labels(p.argmax(axis=1))
            return _accuracy(y, p)
        return _r2(y, p)

    def _score_outputs(self, y, block):
        """The score of a multi-output block (one column per output): the
        user's scorer, else subset accuracy (every label right; a label is
        1 where the block exceeds 0.5, a probability or a 0/1 label) or the
        mean R^2 of the outputs."""
        if self.scorer is not None:
            return float(self.scorer(y, block))
        y = np.asarray(y)
        if self.classification:
            return float(np.mean(np.all((block > 0.5) == (y == 1), axis=1)))
        return float(np.mean([_r2(y[:, k], block[:, k])
                              for k in range(y.shape[1])]))
