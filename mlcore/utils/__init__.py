"""Helpers kept from ``mlens.utils``: saving, printing, timing, logging.

* :func:`pickle_save` / :func:`pickle_load`: pickle an object to a ``.pkl``
  file and back;
* :func:`print_time`, :func:`safe_print`, :func:`time`: the printing and
  timing helpers of ML-Ensemble's benchmark scripts;
* :class:`CMLog`: CPU and memory logging in the background (needs psutil).

Submodules at ML-Ensemble's paths: :mod:`mlcore.utils.exceptions` (the
exception and warning classes of ``mlens.utils.exceptions``) and
:mod:`mlcore.utils.dummy` (the tutorial estimators ``OLS``,
``LogisticRegression`` and ``Scale``, which need scikit-learn).

ML-Ensemble's internal checking and formatting helpers (``check_inputs``,
``check_instances``, ``IdTrain``, ...) are not part of mlcore.
"""
from .monitor import CMLog
from .utils import pickle_load, pickle_save, print_time, safe_print, time

__all__ = ["pickle_save", "pickle_load", "time", "print_time", "safe_print",
           "CMLog"]
