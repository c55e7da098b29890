"""What the nodes of :mod:`mlcore.parallel` share: backend settings,
generated names, the estimation cache and the fit-data table."""
import itertools
import warnings

import numpy as np

from .. import config
from .._store import cache_load, cache_save
from ..metrics import Data
from ..utils.exceptions import MetricWarning

# Counters of generated names, per kind ('learner', 'transformer', ...).
_COUNTERS = {}


def format_name(name, kind):
    """``name``, or a new ``'<kind>-<k>'`` when it is empty (ML-Ensemble's
    naming of unnamed nodes; names must be unique within one cache)."""
    if name:
        return name
    counter = _COUNTERS.setdefault(kind, itertools.count())
    return "%s-%d" % (kind, next(counter))


class BackendParams(object):
    """Settings of a node for the engine (ML-Ensemble's ``BaseBackend``).

    ``backend`` and ``n_jobs`` say which engine :func:`~mlcore.parallel.run`
    builds; ``dtype`` is the dtype of the node's output array (default
    :func:`mlcore.config.get_dtype`, float32); ``raise_on_exception`` is
    kept for ML-Ensemble (errors always raise).
    """

    def _set_backend(self, backend, n_jobs, dtype, raise_on_exception):
        self.backend = config.get_backend() if backend is None else backend
        self.n_jobs = n_jobs
        self.dtype = config.get_dtype() if dtype is None else dtype
        self.raise_on_exception = raise_on_exception


def save(path, name, obj):
    """Store ``obj`` in a cache (a directory, or a list of pairs)."""
    cache_save(path, name, obj)


def load(path, name):
    """The object stored under ``name``; ValueError naming it if absent."""
    try:
        return cache_load(path, name)
    except (KeyError, FileNotFoundError):
        raise ValueError(
            "%r is not in the estimation cache: fit its transformer first, "
            "in the same cache (run learners with preprocessing in a Group or "
            "Layer with their transformer)" % name) from None


def entries(path, prefix):
    """Cached objects whose name is ``prefix.<partition>.<fold>``, ordered
    by (partition, fold) as numbers (ML-Ensemble sorted them as text, so
    fold 10 came before fold 2)."""
    import os
    if isinstance(path, str):
        names = [f[:-4] for f in os.listdir(path) if f.endswith(".pkl")]
    else:
        names = [name for name, _ in path]
    found = []
    for name in set(names):
        head, _, tail = name.rpartition(".")
        head, _, mid = head.rpartition(".")
        if head == prefix and mid.isdigit() and tail.isdigit():
            found.append(((int(mid), int(tail)), name))
    return [cache_load(path, name) for _, name in sorted(found)]


def score(scorer, y, p, name):
    """``scorer(y, p)``, or None with a MetricWarning if it fails (as in
    ML-Ensemble: a failing scorer does not stop the fit)."""
    if scorer is None or y is None:
        return None
    try:
        return scorer(y, p)
    except Exception as exc:  # the fit itself succeeded
        warnings.warn("could not score %s: %r" % (name, exc), MetricWarning)
        return None


def data_table(raw, partitions):
    """ML-Ensemble's fit-data table: ``{'<key>-m': {row: mean},
    '<key>-s': {row: std}}`` over the folds of each learner, one row per
    learner (``'<name>--<partition>'`` rows when there are partitions).

    Parameters
    ----------
    raw : list of (str, dict)
        ``('<cache name>.<partition>.<fold>', {'score': ..., 'ft': ...})``.
    partitions : bool
        One row per partition.
    """
    groups = {}
    for name, values in raw:
        head, part, _ = name.rsplit(".", 2)
        row = "%s--%s" % (head, part) if partitions else head
        groups.setdefault(row, []).append(values)
    table = Data()
    for row, items in groups.items():
        for key in items[0]:
            vals = [v[key] for v in items if v.get(key) is not None]
            if not vals:
                continue
            table.setdefault("%s-m" % key, {})[row] = float(np.mean(vals))
            table.setdefault("%s-s" % key, {})[row] = float(np.std(vals))
    return table
