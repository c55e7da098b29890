"""ML-Ensemble's low-level API (``mlens.parallel``) on mlcore's engine.

The building blocks ML-Ensemble's ensembles were made of, for code written
against them: :class:`Learner` (an estimator with an indexer),
:class:`Transformer` (a preprocessing :class:`Pipeline` with an indexer),
:class:`Group` and :func:`make_group` (nodes sharing an indexer),
:class:`Layer` (groups run as one task), :func:`run` (one engine call on
any of these), :class:`EvalLearner`/:class:`EvalTransformer` (for
cross-validated evaluation), and the engine itself: :class:`Job`,
:class:`ParallelProcessing`, :class:`ParallelEvaluation`,
:func:`dump_array` (from :mod:`mlcore.backend`).

These nodes keep ML-Ensemble's observable behaviour, including a shuffled
layer's output in the shuffled row order (see
:meth:`ParallelProcessing.output_rows` for the permutation). mlcore's own
ensembles are built from :mod:`mlcore.layer`, which runs the same fits in
one flat pool per layer; for new code use :mod:`mlcore.ensemble`.

The submodules keep ML-Ensemble's paths: ``mlcore.parallel.backend``,
``.learner``, ``.layer``, ``.handles`` and ``.wrapper``.
"""
from .backend import Job, ParallelEvaluation, ParallelProcessing, dump_array
from .handles import Group, Pipeline, make_group
from .layer import Layer
from .learner import EvalLearner, EvalTransformer, Learner, Transformer
from .wrapper import get_backend, run

__all__ = ["ParallelProcessing", "ParallelEvaluation", "Job", "Layer",
           "Group", "Pipeline", "Learner", "Transformer", "EvalLearner",
           "EvalTransformer", "make_group", "run", "get_backend", "dump_array"]
