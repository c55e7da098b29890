"""Column names of the ensembles' layers.

A layer's output has the propagated input columns first, under their input
names, then one block per learner, in the order of ``layer.learners``:

* ``<learner>`` for a learner that predicts one value (a label, a number);
* ``<learner>_<class>`` for class probabilities, one column per class of
  ``classes_`` (the user's labels);
* with several partitions (subsembles), ``<learner>_p<j>`` and
  ``<learner>_p<j>_<class>`` for partition ``j``;
* for a multi-output ``y``, ``<learner>_y<k>`` (``<learner>_p<j>_y<k>``)
  for output ``k``: its prediction or, with ``proba``, the probability that
  label ``k`` is 1.

``<learner>`` is the learner's name in ``ens.data`` (``<case>__<name>``
with preprocessing cases). The input names of the first layer are the
ensemble's ``feature_names_in_`` (a DataFrame's columns), else ``x0``,
``x1``, ... as scikit-learn generates them.
"""
import numbers

import numpy as np

__all__ = ["generated_names", "resolve_columns", "layer_names_out"]


def generated_names(n):
    """scikit-learn's names for unnamed columns: ``x0, x1, ...``."""
    return np.asarray(["x%d" % i for i in range(n)], dtype=object)


def _show(names, limit=8):
    names = [str(n) for n in names]
    if len(names) > limit:
        return "%s, ... (%d in all)" % (", ".join(repr(n) for n in
                                                  names[:limit]), len(names))
    return ", ".join(repr(n) for n in names)


def resolve_columns(columns, names, n, where, named_input=True):
    """``propagate_features`` as a list of column positions.

    Parameters
    ----------
    columns : None or list of int or str
        Positions (negative ones count from the end) or, when the input has
        column names, names.
    names : array of str or None
        The input's column names.
    n : int
        The input's number of columns.
    where : str
        Which layer, for the messages (``'layer-1'``).
    named_input : bool
        Whether ``names`` are the user's own (a DataFrame's columns) rather
        than generated ones; names are only accepted for those, or for the
        output of an earlier layer.

    Returns
    -------
    list of int or None

    Raises
    ------
    TypeError, ValueError
        Naming ``propagate_features``, the layer and what was expected.
    """
    if columns is None:
        return None
    if isinstance(columns, (str, bytes)) or not hasattr(columns, "__iter__"):
        raise TypeError(
            "propagate_features of %s must be a list of column positions "
            "(int) or names (str), got %r" % (where, columns))
    columns = list(columns)
    if not columns:
        return None
    is_name = [isinstance(c, str) for c in columns]
    is_pos = [isinstance(c, (numbers.Integral, np.integer)) and
              not isinstance(c, (bool, np.bool_)) for c in columns]
    if not all(a or b for a, b in zip(is_name, is_pos)) or \
            (any(is_name) and any(is_pos)):
        raise TypeError(
            "propagate_features of %s must be all column positions (int) or "
            "all column names (str), got %r" % (where, columns))
    if any(is_name):
        if names is None or not named_input:
            raise ValueError(
                "propagate_features of %s names columns (%s), but X has no "
                "column names: fit on a pandas DataFrame (feature_names_in_) "
                "or give column positions" % (where, _show(columns)))
        index = {str(name): i for i, name in enumerate(names)}
        missing = [c for c in columns if c not in index]
        if missing:
            raise ValueError(
                "propagate_features of %s: no column named %s; the input's "
                "columns are %s" % (where, _show(missing), _show(names)))
        return [index[c] for c in columns]
    out = []
    for c in columns:
        c = int(c)
        if not -n <= c < n:
            raise ValueError(
                "propagate_features of %s: column %d is out of range for an "
                "input of %d columns" % (where, c, n))
        out.append(c % n)
    return out


def layer_names_out(layer, names_in, classes):
    """The column names of ``layer``'s output (an object array of str)."""
    out = []
    for c in layer.propagate_features or []:
        out.append(str(names_in[c]))
    labels = None if classes is None else [
        str(getattr(c, "item", lambda: c)()) for c in classes]
    n_outputs = getattr(layer, "n_outputs", 1)
    for group in layer.groups:
        partitions = group.indexer.partitions or 1
        for lr in group.learners:
            for j in range(partitions):
                base = lr.key if partitions == 1 else "%s_p%d" % (lr.key, j)
                if n_outputs > 1:
                    out.extend("%s_y%d" % (base, k) for k in range(n_outputs))
                elif lr.proba and labels is not None:
                    out.extend("%s_%s" % (base, c) for c in labels)
                else:
                    out.append(base)
    return np.asarray(out, dtype=object)
