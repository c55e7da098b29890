"""``run``: one call of the engine on a node, group, layer or list of them
(ML-Ensemble's ``mlens.parallel.wrapper``), and the estimator mixin built
on it."""
from .. import config
from ..backend import ParallelProcessing
from ..exceptions import NotFittedError, ParallelProcessingError
from ._base import BackendParams

__all__ = ["run", "get_backend", "EstimatorMixin"]


def _flag_targets(caller):
    """The objects whose flags :func:`run` sets: a layer and its learners,
    a group's learners (its transformers keep caching for them), each
    element of a list, or the node itself."""
    from .handles import Group
    from .layer import Layer
    if isinstance(caller, Layer):
        return [caller] + caller.learners
    if isinstance(caller, Group):
        return caller.learners
    if isinstance(caller, (list, tuple)):
        return list(caller)
    return [caller]


def _set_flags(caller, flags):
    """Set the existing attributes ``flags`` on the flag targets; returns
    what to restore."""
    resets = []
    for obj in _flag_targets(caller):
        old = {k: getattr(obj, k) for k in flags if hasattr(obj, k)}
        for key in old:
            setattr(obj, key, flags[key])
        resets.append((obj, old))
    return resets


def _no_output(kwargs, job, map):
    """Whether the callers run without an output array: by default a fit
    has none and the other jobs return their predictions; ``return_preds``
    decides otherwise. A stack always needs outputs (they feed the next
    task)."""
    if "return_preds" in kwargs:
        no_output = not kwargs["return_preds"]
    else:
        no_output = job == "fit"
        kwargs["return_preds"] = job != "fit"
    return no_output and map


def run(caller, job, X, y=None, map=True, **kwargs):
    """Run ``job`` on ``caller`` with a fresh engine.

    Parameters
    ----------
    caller : Learner, Transformer, Group, Layer or list of them
    job : {'fit', 'transform', 'predict'}
    X, y : array-like
    map : bool, default=True
        :meth:`~mlcore.backend.ParallelProcessing.map` the tasks on the same
        input; False to :meth:`~mlcore.backend.ParallelProcessing.stack`
        them, each on the previous one's output.
    **kwargs
        ``proba=True`` predicts class probabilities for this call;
        ``return_preds`` (default: False for a fit, True otherwise) returns
        the last task's output; ``refit=False`` reuses fitted nodes; the
        rest goes to ``map``/``stack``.

    Returns
    -------
    ndarray or None

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from mlcore.index import FoldIndex
    >>> from mlcore.parallel import Learner, run
    >>> X = np.arange(20.0).reshape(10, 2); y = X[:, 1]
    >>> lr = Learner(LinearRegression(), indexer=FoldIndex(2))
    >>> run(lr, "fit", X, y)
    >>> run(lr, "predict", X[:2]).ravel()
    array([1., 3.], dtype=float32)
    """
    flags = {}
    if kwargs.pop("proba", False):
        flags.update(proba=True, attr="predict_proba")
    flags["__no_output__"] = _no_output(kwargs, job, map)
    resets = _set_flags(caller, flags)
    try:
        verbose = max(int(getattr(caller, "verbose", 0) or 0) - 4, 0)
        backend = getattr(caller, "backend", None) or config.get_backend()
        n_jobs = getattr(caller, "n_jobs", -1)
        with ParallelProcessing(backend, n_jobs, verbose) as engine:
            call = engine.map if map else engine.stack
            return call(caller, job, X, y, **kwargs)
    finally:
        for obj, old in resets:
            for key, value in old.items():
                setattr(obj, key, value)


def get_backend(instance):
    """The node an estimator runs on: its ``_backend`` if set, else the
    instance itself; ParallelProcessingError if it is not a node."""
    node = getattr(instance, "_backend", None) or instance
    if isinstance(node, BackendParams):
        return node
    raise ParallelProcessingError("%r has no mlcore.parallel node to run"
                                  % (instance,))


class EstimatorMixin(object):
    """scikit-learn style ``fit``/``predict``/``transform`` on a node
    (ML-Ensemble's ``mlens.parallel.wrapper.EstimatorMixin``).

    A class mixing it in either is a node or builds one in ``_build()`` and
    stores it as ``_backend``.
    """

    def _node(self):
        if hasattr(self, "_build"):
            self._build()
        return get_backend(self)

    def fit(self, X, y, proba=False, refit=True):
        """Fit (``refit=False`` keeps an already fitted node)."""
        run(self._node(), "fit", X, y, proba=proba, refit=refit,
            return_preds=False)
        return self

    def fit_transform(self, X, y, proba=False, refit=True):
        """Fit and return the out-of-fold predictions."""
        return run(self._node(), "fit", X, y, proba=proba, refit=refit,
                   return_preds=True)

    def _fitted_node(self):
        node = get_backend(self)
        if not node.__fitted__:
            raise NotFittedError("%r is not fitted" % (self,))
        return node

    def predict(self, X, proba=False):
        """Predictions of the full fits."""
        return run(self._fitted_node(), "predict", X, proba=proba,
                   return_preds=True)

    def transform(self, X, proba=False):
        """The fit-time (out-of-fold) predictions again."""
        return run(self._fitted_node(), "transform", X, proba=proba,
                   return_preds=True)
