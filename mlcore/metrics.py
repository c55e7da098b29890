"""Scores and result tables."""
from collections import OrderedDict

import numpy as np

__all__ = ["Data", "default_scorer", "rmse"]


def rmse(y, p):
    """Root mean squared error."""
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    return float(np.sqrt(np.mean((y - p) ** 2)))


def _accuracy(y, labels):
    return float(np.mean(np.asarray(y).ravel() == np.asarray(labels).ravel()))


def _r2(y, p):
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    ss_tot = np.sum((y - y.mean()) ** 2)
    if ss_tot == 0:
        return 0.0
    return float(1.0 - np.sum((y - p) ** 2) / ss_tot)


class default_scorer(object):
    """Score a prediction block of a learner.

    Accuracy for classifiers (class of the highest probability, or the
    predicted label), R^2 for regressors. A user scorer ``f(y, p)`` is
    wrapped so that it receives 1-D predictions for one-column blocks.
    For a 2-D ``y`` (multi-output), the block has one column per output:
    subset accuracy (every label of a row right) or the mean R^2 of the
    outputs, and a user scorer receives the block as it is.

    Parameters
    ----------
    classification : bool
    scorer : callable, optional
        ``scorer(y_true, y_pred)``.
    classes : ndarray, optional
        The class labels (sorted), for classification: a one-column block
        then holds positions in ``classes``, which are turned back into
        labels, so that ``y`` and the predictions a user scorer receives are
        both the user's labels. A block of class probabilities is passed on
        as it is (columns in the order of ``classes``).
    """

    def __init__(self, classification, scorer=None, classes=None):
        self.classification = classification
        self.scorer = scorer
        self.classes = classes

    def _labels(self, positions):
        positions = np.rint(np.asarray(positions, dtype=np.float64))
        if self.classes is None:
            return positions
        idx = np.clip(positions, 0, len(self.classes) - 1).astype(np.intp)
        return np.asarray(self.classes)[idx]

    def __call__(self, y, block):
        block = np.asarray(block)
        if np.ndim(y) == 2:
            return self._score_outputs(y, block)
        p = block[:, 0] if block.ndim == 2 and block.shape[1] == 1 else block
        if self.classification and p.ndim == 1:
            p = self._labels(p)
        if self.scorer is not None:
            return float(self.scorer(y, p))
        if self.classification:
            if p.ndim == 2:
                p = self._labels(p.argmax(axis=1))
            return _accuracy(y, p)
        return _r2(y, p)


    def _score_outputs(self, y, block):
        """The score of a multi-output block (one column per output): the
        user's scorer, else subset accuracy (every label right; a label is
        1 where the block exceeds 0.5, a probability or a 0/1 label) or the
        mean R^2 of the outputs."""
        if self.scorer is not None:
            return float(self.scorer(y, block))
        y = np.asarray(y)
        if self.classification:
            return float(np.mean(np.all((block > 0.5) == (y == 1), axis=1)))
        return float(np.mean([_r2(y[:, k], block[:, k])
                              for k in range(y.shape[1])]))


class Data(OrderedDict):
    """A table of per-learner results that prints itself.

    Keys are row names (``layer/learner`` for an ensemble's ``data``, the
    estimator names for an Evaluator's ``results``); values are dicts of
    column -> value. :meth:`to_frame` gives a pandas DataFrame with one row
    per key (``pd.DataFrame(data)`` would put the keys in the columns).

    Attributes
    ----------
    failed : dict
        ``{row name: why it failed}`` of the learners dropped from an
        ensemble at fit (``raise_on_exception=False``); they have no row,
        and the printed table lists them below the rows.
    """

    failed = {}

    def columns(self):
        """Column names, in the order they first appear."""
        cols = []
        for row in self.values():
            for c in row:
                if c not in cols:
                    cols.append(c)
        return cols

    def to_frame(self):
        """The table as a :class:`pandas.DataFrame`: one row per key (the
        index, as printed), one column per column; cells a row lacks are
        NaN.

        Raises
        ------
        ImportError
            If pandas is not installed.
        """
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("Data.to_frame needs pandas: pip install "
                              "pandas (str(data) prints the table without "
                              "it)") from exc
        cols = self.columns()
        return pd.DataFrame([[row.get(c, np.nan) for c in cols]
                             for row in self.values()],
                            index=pd.Index(list(self), dtype=object),
                            columns=cols)

    def __str__(self):
        table = self._table()
        if not self.failed:
            return table
        return "\n".join([table, "failed (dropped from the ensemble):"] + [
            "  %s: %s" % (name, reason)
            for name, reason in self.failed.items()])

    def _table(self):
        if not self:
            return "(empty)"
        cols = self.columns()
        width = max(len(str(k)) for k in self) + 2

        def cell(v):
            return "%.4f" % v if isinstance(v, float) else str(
                "" if v is None else v)

        cells = {name: [cell(row.get(c)) for c in cols]
                 for name, row in self.items()}
        cw = [max([10, len(c) + 2] + [len(cells[n][i]) + 2 for n in cells])
              for i, c in enumerate(cols)]
        head = " " * width + "".join(c.rjust(w) for c, w in zip(cols, cw))
        lines = [head]
        for name in self:
            lines.append(str(name).ljust(width) + "".join(
                v.rjust(w) for v, w in zip(cells[name], cw)))
        return "\n".join(lines)

    __repr__ = __str__
