"""Result tables: :class:`Data`, :func:`assemble_data`, :func:`assemble_table`.

A :class:`Data` is ML-Ensemble's table layout: a dict of columns, each a
dict of rows (``data['score-m']['layer-1/ridge']``), printed as a table with
one column per part of the row names. Row names read
``[layer/][case.]learner[--partition]``: ``'layer-1/ridge'``,
``'layer-1/sc.ridge'``, ``'layer-1/ridge--0'``; an Evaluator's rows are
``'ridge'`` or ``'sc.ridge'``. ``pandas.DataFrame(data)`` gives one row per
row name, as does :meth:`Data.to_frame`.
"""
import numbers
import re
import warnings
from collections import OrderedDict

import numpy as np

__all__ = ["Data", "assemble_data", "assemble_table"]

_PARTS = ("layer", "case", "est", "part")


def _is_int(text):
    return text.isdigit()


def _has_partitions(data_list):
    """Whether any entry ``name.partition.fold`` has a partition above 0."""
    for name, _ in data_list:
        bits = name.rsplit("/", 1)[-1].split(".")
        if len(bits) >= 3 and _is_int(bits[-2]) and int(bits[-2]) > 0:
            return True
    return False


def _row_name(name, partitions):
    """The row of an entry ``[layer/][case.]est.partition.fold``: the
    trailing numbers dropped, the partition kept as ``--partition`` when
    the table has partitions."""
    prefix, sep, rest = name.rpartition("/")
    bits = rest.split(".")
    if len(bits) >= 3 and _is_int(bits[-1]) and _is_int(bits[-2]):
        part, bits = bits[-2], bits[:-2]
        rest = ".".join(bits) + ("--%s" % part if partitions else "")
    return prefix + sep + rest


def _aggregate(values, field, row):
    """Mean and standard deviation of ``values`` (None entries left out);
    (None, None) when there are none."""
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        from ..utils.exceptions import MetricWarning
        warnings.warn("%s of %r could not be aggregated (values %r): %s"
                      % (field, row, values[:5], exc), MetricWarning,
                      stacklevel=3)
        return None, None
    return float(arr.mean()), float(arr.std())


def assemble_data(data_list):
    """Aggregate per-fit records into a table of means and deviations.

    Parameters
    ----------
    data_list : list of (str, dict)
        ``(name, {field: value})`` per fit. Names read
        ``[layer/][case.]est.partition.fold``; the records of one row (the
        same name up to the fold, and up to the partition unless some
        partition is above 0) are aggregated. None values are left out.

    Returns
    -------
    collections.OrderedDict
        ``{'<field>-m': {row: mean}, '<field>-s': {row: std}}``, fields in
        the order they first appear; a cell without values holds None, and
        a column without any value is left out.

    Examples
    --------
    >>> d = assemble_data([("layer-1/ridge.0.1", {"score": 1.0, "ft": 0.5}),
    ...                    ("layer-1/ridge.0.2", {"score": 3.0, "ft": 0.5})])
    >>> dict(d["score-m"]), dict(d["score-s"])
    ({'layer-1/ridge': 2.0}, {'layer-1/ridge': 1.0})
    """
    partitions = _has_partitions(data_list)
    collected = OrderedDict()
    for name, record in data_list:
        if not record:
            continue
        fields = collected.setdefault(_row_name(name, partitions),
                                      OrderedDict())
        for field, value in record.items():
            fields.setdefault(field, []).append(value)
    columns = []
    for fields in collected.values():
        for field in fields:
            if field not in columns:
                columns.append(field)
    data = OrderedDict()
    for field in columns:
        means, stds = OrderedDict(), OrderedDict()
        for row, fields in collected.items():
            means[row], stds[row] = _aggregate(fields.get(field, []), field,
                                               row)
        if any(v is not None for v in means.values()):
            data["%s-m" % field], data["%s-s" % field] = means, stds
    return data


def _split_row(name):
    """``(layer, case, est, part)`` of a row name; missing parts are ''."""
    layer, _, rest = name.rpartition("/")
    case, sep, est = rest.partition(".")
    if not sep:
        case, est = "", case
    est, _, part = est.partition("--")
    return layer, case, est, part


def _natural(name):
    """Sort key reading the numbers in ``name`` as numbers (``layer-10``
    after ``layer-2``)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _cell(value, decimals):
    if value is None or (not isinstance(value, numbers.Number) and
                         hasattr(value, "__len__") and not len(value)):
        return ""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return "%.*f" % (decimals, value)
    return str(value)


def _row_names(data):
    rows = []
    for column in data.values():
        for row in column:
            if row not in rows:
                rows.append(row)
    return sorted(rows, key=_natural)


def assemble_table(data, padding=2, decimals=2):
    """The text table of ``data`` (columns of rows, as :func:`assemble_data`
    makes them).

    Rows are sorted by name (numbers in names compared as numbers); each
    part of the row names (layer, preprocessing case, learner, partition)
    that some row has gets a column.

    Parameters
    ----------
    data : dict
        ``{column: {row: value}}``.
    padding : int, default=2
        Spaces between columns.
    decimals : int, default=2
        Decimals of numbers.

    Returns
    -------
    str

    Examples
    --------
    >>> print(assemble_table({"score-m": {"layer-1/ridge": 0.5,
    ...                                   "layer-1/sc.knn": 0.25}}))
                          score-m
    layer-1      ridge       0.50
    layer-1  sc  knn         0.25
    """
    rows = _row_names(data)
    if not rows:
        return "(empty)"
    parts = {row: _split_row(row) for row in rows}
    widths = [max(len(parts[r][i]) for r in rows) for i in range(len(_PARTS))]
    kept = [i for i, w in enumerate(widths) if w]
    cols = list(data)
    cells = {c: [_cell(data[c].get(r), decimals) for r in rows] for c in cols}
    col_widths = [max([len(str(c))] + [len(v) for v in cells[c]])
                  for c in cols]
    lead = sum(widths[i] + padding for i in kept)
    lines = [" " * lead + "".join(str(c).rjust(w + padding)
                                  for c, w in zip(cols, col_widths))]
    for j, row in enumerate(rows):
        name = "".join(parts[row][i].ljust(widths[i] + padding) for i in kept)
        lines.append(name + "".join(cells[c][j].rjust(w + padding)
                                    for c, w in zip(cols, col_widths)))
    return "\n".join(line.rstrip() for line in lines)


class Data(OrderedDict):
    """A table of results in ML-Ensemble's layout, printed as a table.

    A dict of columns, each a dict of rows: ``data['score-m']['layer-1/ridge']``
    (an ensemble's ``data``), ``results['test_score-m']['sc.ridge']`` (an
    :class:`~mlcore.model_selection.Evaluator`'s ``results``). ``print``
    shows the table (:func:`assemble_table`); ``pandas.DataFrame(data)``
    and :meth:`to_frame` give one row per row name.

    Parameters
    ----------
    data : dict or list, optional
        ``{column: {row: value}}``, or a list of per-fit ``(name, record)``
        entries, aggregated by :func:`assemble_data`.
    padding : int, default=2
        Spaces between the printed columns.
    decimals : int, default=2
        Decimals of the printed numbers.

    Attributes
    ----------
    failed : dict
        ``{row name: why it failed}`` of the learners dropped from an
        ensemble at fit (``raise_on_exception=False``); they have no row,
        and the printed table lists them below the rows.

    Examples
    --------
    >>> data = Data([("layer-1/ridge.0.1", {"score": 0.5}),
    ...              ("layer-1/ridge.0.2", {"score": 0.7})])
    >>> round(data["score-m"]["layer-1/ridge"], 10)
    0.6
    >>> print(data)
                      score-m  score-s
    layer-1  ridge       0.60     0.10
    """

    failed = {}

    def __init__(self, data=None, padding=2, decimals=2):
        if isinstance(data, list):
            data = assemble_data(data)
        super().__init__(data or {})
        self.padding = padding
        self.decimals = decimals

    def __missing__(self, key):
        # The old mlcore layout put rows first: say how to read a row.
        if isinstance(key, str) and key in self.rows():
            raise KeyError("%r is a row, not a column: index a column first, "
                           "data[<column>][%r] (columns: %s), or use "
                           "data.row(%r)" % (key, key, list(self), key))
        raise KeyError(key)

    def rows(self):
        """Row names, sorted as printed."""
        return _row_names(self)

    def row(self, name):
        """``{column: value}`` of row ``name`` (None where it has none).

        Raises
        ------
        KeyError
            If no column has the row.
        """
        if name not in self.rows():
            raise KeyError("no row %r; rows: %s" % (name, self.rows()))
        return OrderedDict((c, self[c].get(name)) for c in self)

    def to_frame(self):
        """The table as a :class:`pandas.DataFrame`: one row per row name
        (as printed), one column per column; missing cells are NaN.

        Raises
        ------
        ImportError
            If pandas is not installed.
        """
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("Data.to_frame needs pandas: pip install "
                              "pandas (print(data) shows the table without "
                              "it)") from exc
        rows = self.rows()
        return pd.DataFrame(
            {c: [self[c].get(r) for r in rows] for c in self},
            index=pd.Index(rows, dtype=object), columns=list(self))

    def __repr__(self):
        table = assemble_table(self, self.padding, self.decimals)
        if not self.failed:
            return table
        return "\n".join([table, "failed (dropped from the ensemble):"] + [
            "  %s: %s" % (name, reason)
            for name, reason in self.failed.items()])

    __str__ = __repr__
