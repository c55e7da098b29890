"""mlcore: a fast, trustworthy engine for stacked and blended ensembles.

The ensembles users call live in :mod:`mlcore.ensemble` (SuperLearner,
BlendEnsemble, Subsemble, SequentialEnsemble, TemporalEnsemble; they need
scikit-learn), built from the task graph in :mod:`mlcore.layer` and the
indexers in :mod:`mlcore.index`. The parallel backend
(:mod:`mlcore.backend`) is a drop-in replacement for
``mlens.parallel.backend``; the data-movement kernels it runs on are public
in :mod:`mlcore.kernels`; settings live in :mod:`mlcore.config`; the
persistent store of fits that an ensemble's ``memory=`` uses is
:mod:`mlcore.fitstore`.
"""
from . import config, index, kernels
from .config import config_context
from .backend import (BaseProcessor, Job, ParallelEvaluation,
                      ParallelProcessing, delayed, dump_array)
from .exceptions import (LayerSpecificationError, NotFittedError,
                         ParallelProcessingError, ParallelProcessingWarning)

__version__ = "0.1.0"

__all__ = [
    "Job", "BaseProcessor", "ParallelProcessing", "ParallelEvaluation",
    "dump_array", "delayed", "config", "config_context", "index", "kernels",
    "ParallelProcessingError", "ParallelProcessingWarning", "NotFittedError",
    "LayerSpecificationError", "__version__",
]
