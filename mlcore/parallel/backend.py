"""ML-Ensemble's module path ``mlens.parallel.backend``, for code that
imports from it. The engine is :mod:`mlcore.backend`; import it from there
(or from :mod:`mlcore.parallel`)."""
from ..backend import (BaseProcessor, Job, ParallelEvaluation,
                       ParallelProcessing, delayed, dump_array)

__all__ = ["BaseProcessor", "Job", "ParallelEvaluation", "ParallelProcessing",
           "delayed", "dump_array"]
