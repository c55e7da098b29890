"""Exceptions and warnings raised by mlcore.

The names follow ML-Ensemble so that code catching its exceptions keeps
working after switching imports.
"""

__all__ = [
    "ParallelProcessingError",
    "ParallelProcessingWarning",
    "NotFittedError",
    "LayerSpecificationError",
    "MissingClassWarning",
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


class MissingClassWarning(UserWarning):
    """A learner was fitted on rows that lack some of the classes of ``y``
    (a fold of label-sorted data, a partition, a blend's training part): it
    can never predict those classes. The message names the layer, the
    learners, the fold and the missing classes."""
