"""Scores and result tables: the successor of ``mlens.metrics``.

* :func:`rmse`, :func:`mape`, :func:`wape`: error measures ``f(y, p)``
  (also at ML-Ensemble's path ``mlcore.metrics.metrics``);
* :func:`make_scorer`: ML-Ensemble's signature for scikit-learn's scorer
  objects;
* :class:`Data`, :func:`assemble_data`, :func:`assemble_table`: the tables
  of an ensemble's ``data`` and an Evaluator's ``results``, in ML-Ensemble's
  layout (columns of rows), printed as text.

Score functions and tables are separate modules, as in ML-Ensemble.
"""
from . import metrics, utils
from .metrics import default_scorer, make_scorer, mape, rmse, wape
from .utils import Data, assemble_data, assemble_table

__all__ = ["Data", "assemble_table", "assemble_data", "rmse", "mape", "wape",
           "make_scorer", "default_scorer"]
