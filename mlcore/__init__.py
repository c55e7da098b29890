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

As ``mlens`` did, the package also holds the settings functions of
:mod:`mlcore.config` (``set_backend``, ``get_dtype``, ``clear_cache``, ...),
so ``mlcore.set_backend('loky')`` works; for a setting that applies only to
a block of code, :func:`config_context` is the better way.
"""
from . import config, index, kernels
from .config import (clear_cache, config_context, get_backend, get_dtype,
                     get_ivals, get_prefix, get_start_method, get_tmpdir,
                     print_settings, set_backend, set_dtype, set_ivals,
                     set_prefix, set_start_method, set_tmpdir)
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
    # ML-Ensemble's settings functions (mlens.config), at mlens's top level
    "get_backend", "set_backend", "get_dtype", "set_dtype", "get_tmpdir",
    "set_tmpdir", "get_prefix", "set_prefix", "get_start_method",
    "set_start_method", "get_ivals", "set_ivals", "print_settings",
    "clear_cache",
]
