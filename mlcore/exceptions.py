"""Exceptions and warnings raised by mlcore.

The names follow ML-Ensemble so that code catching its exceptions keeps
working after switching imports.
"""
import pickle

__all__ = [
    "ParallelProcessingError",
    "ParallelProcessingWarning",
    "NotFittedError",
    "LayerSpecificationError",
    "LearnerError",
    "LearnerValueError",
    "LearnerTypeError",
    "WorkerDiedError",
    "LearnerTimeoutError",
    "LearnerFailedWarning",
    "MissingClassWarning",
    "ScorerError",
]


class ParallelProcessingError(AttributeError, RuntimeError):
    """The processing engine was used in a state that does not allow it.

    Raised, for example, when predictions are requested from a processor
    that was never initialized or has already been cleared. It subclasses
    ``AttributeError`` (as in ML-Ensemble) and ``RuntimeError``.
    """


class ParallelProcessingWarning(UserWarning):
    """Something went wrong that did not stop the job (e.g. a cache that
    could not be removed)."""


class NotFittedError(ValueError, AttributeError):
    """An estimator was used before it was fitted."""


class LayerSpecificationError(TypeError, ValueError):
    """A layer or ensemble was specified in a way that cannot be built."""


class LearnerError(RuntimeError):
    """A learner or preprocessing pipeline failed on one fold.

    The message names the learner, the partition and fold, the job and the
    original exception, which is also chained as ``__cause__``.

    When the original exception is a ``ValueError`` or a ``TypeError`` (bad
    data or parameters, as scikit-learn estimators raise them), the error
    raised is :class:`LearnerValueError` or :class:`LearnerTypeError`, which
    are both a ``LearnerError`` and that built-in type, so that code catching
    an estimator's ``ValueError`` keeps working around an ensemble.

    Attributes
    ----------
    original : BaseException or None
        The original exception. joblib replaces ``__cause__`` of errors
        raised in its workers (threads too) with a remote traceback; the
        layer puts ``original`` back as ``__cause__`` when the error reaches
        it (with the remote traceback, if any, as the original's cause).
    """

    original = None

    @staticmethod
    def from_exception(message, exc):
        """The LearnerError for ``exc`` with ``message``: a
        :class:`LearnerValueError` or :class:`LearnerTypeError` for a
        ``ValueError`` or ``TypeError``, with ``original`` set to ``exc``."""
        if isinstance(exc, ValueError):
            err = LearnerValueError(message)
        elif isinstance(exc, TypeError):
            err = LearnerTypeError(message)
        else:
            err = LearnerError(message)
        err.original = exc
        return err

    def __reduce__(self):
        # Process backends pickle the error: keep the original exception if
        # it pickles, else drop it rather than fail to report the error.
        # Loading is tried too: an exception class whose __init__ does not
        # take its args pickles fine but fails to load in the caller.
        state = dict(self.__dict__)
        if state.get("original") is not None:
            try:
                pickle.loads(pickle.dumps(state["original"]))
            except Exception:
                state["original"] = None
        return (type(self), self.args, state)


class LearnerValueError(LearnerError, ValueError):
    """A :class:`LearnerError` caused by a ``ValueError``."""


class LearnerTypeError(LearnerError, TypeError):
    """A :class:`LearnerError` caused by a ``TypeError``."""


try:
    from joblib.externals.loky.process_executor import \
        TerminatedWorkerError as _TerminatedWorkerError
except ImportError:  # pragma: no cover - a joblib without loky
    from concurrent.futures.process import \
        BrokenProcessPool as _TerminatedWorkerError


class WorkerDiedError(LearnerError, _TerminatedWorkerError):
    """A process worker died while running a learner (a crash in compiled
    code, ``os._exit``, the out-of-memory killer). The message names the
    learner and fold that were running in it, and the exit code where
    known. Also a ``BrokenProcessPool`` (loky's ``TerminatedWorkerError``),
    as joblib raises it."""


class LearnerTimeoutError(LearnerError, TimeoutError):
    """A learner's fit on one fold ran over its time budget
    (``max_fit_time``) while failing learners are not tolerated
    (``raise_on_exception=True``). The message names the learner, the fold
    and the budget; on process backends the worker running the fit was
    stopped first."""


class ScorerError(ValueError):
    """A layer's scorer failed on a learner's out-of-fold predictions (for
    example a scorer of labels given class probabilities). The message
    names the scorer, the learner and the fold, and what the scorer was
    given; the scorer's exception is chained as ``__cause__``. The fault is
    the scorer's, so ``raise_on_exception=False`` does not drop the
    learner: the fit stops."""


class LearnerFailedWarning(UserWarning):
    """A learner failed on a fold (an exception, output of the wrong shape,
    non-finite values, or a fit over its time budget) and was dropped from
    its layer, as ``raise_on_exception=False`` asks. The message names the
    layer, the learner, the fold and the cause; the ensemble's
    ``failed_learners_`` keeps the cause."""


class MissingClassWarning(UserWarning):
    """A learner was fitted on rows that lack some of the classes of ``y``
    (a fold of label-sorted data, a partition, a blend's training part): it
    can never predict those classes. The message names the layer, the
    learners, the fold and the missing classes."""


class FitStoreWarning(UserWarning):
    """A fit could not use an ensemble's fit store (``memory=``): a learner
    or preprocessing case whose parameters have no stable fingerprint is
    fitted without it, or an entry could not be written. The fit itself
    goes on; the message names the learner and the reason."""
