"""The exception and warning classes of ``mlens.utils.exceptions``.

Kept at this path for code written for ML-Ensemble; new code imports the
exceptions mlcore raises from :mod:`mlcore.exceptions` (which these names
are, where mlcore has them). The classes mlcore does not raise itself are
defined here so that ``except``/``warnings.filterwarnings`` clauses written
for ML-Ensemble still import and work.

Where scikit-learn defines a warning of the same name and meaning
(``FitFailedWarning``, ``DataConversionWarning``, ``EfficiencyWarning``),
that class is used, so that a filter on the mlcore name also catches the
warnings scikit-learn estimators issue inside an ensemble. The classes keep
ML-Ensemble's bases either way.
"""
from ..exceptions import (LayerSpecificationError, NotFittedError,
                          ParallelProcessingError, ParallelProcessingWarning)

__all__ = [
    "NotFittedError",
    "NotInitializedError",
    "FitFailedWarning",
    "ParameterChangeWarning",
    "LayerSpecificationError",
    "LayerSpecificationWarning",
    "ParallelProcessingError",
    "ParallelProcessingWarning",
    "InputDataWarning",
    "MetricWarning",
    "DeprecationWarning",
    "EfficiencyWarning",
    "NonBLASDotWarning",
    "DataConversionWarning",
]

try:
    from sklearn.exceptions import (DataConversionWarning, EfficiencyWarning,
                                    FitFailedWarning)
except ImportError:  # pragma: no cover - scikit-learn is an extra
    class FitFailedWarning(RuntimeWarning):
        """An estimator's ``fit`` failed; its score is set to the error
        score and evaluation goes on."""

    class EfficiencyWarning(UserWarning):
        """A computation runs, but slower than it could."""

    class DataConversionWarning(UserWarning):
        """The input was converted implicitly (dtype, shape) in a way the
        caller may not expect."""


class NotInitializedError(ValueError, AttributeError):
    """An object was used before a required set-up step (for example a
    processor used before ``initialize``).

    Compatibility name from ML-Ensemble; mlcore raises
    :class:`mlcore.exceptions.ParallelProcessingError` or
    :class:`mlcore.exceptions.NotFittedError` for these cases.
    """


class ParameterChangeWarning(UserWarning):
    """The parameters of a fitted copy differ from those of the estimator it
    was made from (the estimator was changed after fitting)."""


class LayerSpecificationWarning(UserWarning):
    """A layer was specified in an unusual form that was interpreted as
    best it could be."""


class InputDataWarning(UserWarning):
    """The input data look suspicious (but not invalid)."""


class MetricWarning(UserWarning):
    """A scorer failed or its scores could not be aggregated."""


class DeprecationWarning(UserWarning):  # noqa: A001 - ML-Ensemble's name
    """A feature is deprecated.

    Compatibility name from ML-Ensemble, where it shadows the built-in
    :class:`DeprecationWarning` and is a :class:`UserWarning` (so it is
    shown by default). mlcore itself issues the built-in
    ``DeprecationWarning``; filter on that one in new code.
    """


class NonBLASDotWarning(EfficiencyWarning):
    """A dot product could not use BLAS (kept from ML-Ensemble, which took
    it from an old scikit-learn; mlcore does not issue it)."""
