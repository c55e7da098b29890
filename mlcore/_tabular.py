"""Reading a data file for the command line tool (``python -m mlcore``).

CSV files are read with the standard library (pandas is not needed): the
delimiter is sniffed, a header row is detected (or given with ``header``),
and every column is checked before anything is fitted, so that an empty
cell or a text column is reported by its name and line instead of failing
deep inside a learner. ``.npy`` (one array, target column included) and
``.npz`` (arrays ``X`` and ``y``) are read with numpy.
"""
import csv
import os

import numpy as np

__all__ = ["DataError", "Table", "read_table", "NA_VALUES"]

#: Cells read as missing (besides empty ones).
NA_VALUES = ("NA", "N/A", "NaN", "nan", "null", "NULL", "None")


class DataError(ValueError):
    """The data file cannot be used as it is; the message says why and what
    to do."""


class Table(object):
    """The columns of a data file, parsed.

    Attributes
    ----------
    names : list of str
        Column names (``col0``, ``col1``, ... without a header row).
    columns : list of ndarray
        One float array per numeric column (NaN where a cell is empty), one
        object array of str (None where empty) per text column.
    text : list of bool
        Whether each column holds text.
    missing : list of ndarray of int
        The file lines (1-based) of each column's empty cells.
    first_text : list of (str, int) or None
        For a text column, its first cell that is not a number, with its
        line.
    lines : ndarray of int
        The file line of each row.
    header : bool or None
        Whether the first row was a header (None for numpy files).
    """

    def __init__(self, names, columns, text, missing, lines, header,
                 first_text=None):
        self.names, self.columns, self.text = names, columns, text
        self.missing, self.lines, self.header = missing, lines, header
        self.first_text = first_text or [None] * len(names)

    @property
    def n_rows(self):
        return len(self.lines)


def _is_number(cell):
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _sniff(sample, path):
    if os.path.splitext(path)[1].lower() in (".tsv", ".tab"):
        return "\t"
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _detect_header(first, body, na):
    """Whether the first row is a header: it has text above a column whose
    other cells are numbers, or (every column text) none of its cells
    comes back in its column."""
    if not body:
        return not all(_is_number(c) or c in na for c in first)
    text_above_numbers = False
    for j, cell in enumerate(first):
        if cell in na or _is_number(cell):
            continue
        values = [r[j] for r in body if r[j] not in na]
        if values and all(_is_number(v) for v in values):
            text_above_numbers = True
    if text_above_numbers:
        return True
    if any(cell in na or _is_number(cell) for cell in first):
        return False
    return all(cell not in {r[j] for r in body}
               for j, cell in enumerate(first))


def _read_csv(path, header, na):
    with open(path, newline="") as f:
        sample = f.read(1 << 16)
        f.seek(0)
        delimiter = _sniff(sample, path)
        rows, lines = [], []
        for line, row in enumerate(csv.reader(f, delimiter=delimiter), 1):
            row = [c.strip() for c in row]
            if not any(row):
                continue  # blank line
            rows.append(row)
            lines.append(line)
    if not rows:
        raise DataError("%s holds no rows" % path)
    width = len(rows[0])
    for row, line in zip(rows, lines):
        if len(row) != width:
            raise DataError("%s: line %d has %d cells, line %d has %d: every "
                            "row needs one cell per column"
                            % (path, line, len(row), lines[0], width))
    if header == "auto":
        has_header = _detect_header(rows[0], rows[1:], na)
    else:
        has_header = header == "yes"
    if has_header:
        names = [c or "col%d" % j for j, c in enumerate(rows[0])]
        rows, lines = rows[1:], lines[1:]
    else:
        names = ["col%d" % j for j in range(width)]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise DataError("%s: the header names columns %s more than once"
                        % (path, dup))
    if not rows:
        raise DataError("%s holds a header but no data rows" % path)
    lines = np.asarray(lines)
    columns, text, missing, first_text = [], [], [], []
    for j in range(width):
        cells = [r[j] for r in rows]
        empty = np.array([c in na for c in cells])
        words = [i for i, (c, e) in enumerate(zip(cells, empty))
                 if not e and not _is_number(c)]
        is_text = bool(words)
        first_text.append((cells[words[0]], int(lines[words[0]]))
                          if words else None)
        if is_text:
            col = np.array([None if e else c for c, e in zip(cells, empty)],
                           dtype=object)
        else:
            col = np.array([np.nan if e else float(c)
                            for c, e in zip(cells, empty)])
        columns.append(col)
        text.append(is_text)
        missing.append(lines[empty])
    return Table(names, columns, text, missing, lines, has_header,
                 first_text)


def _from_columns(names, columns, path):
    """A :class:`Table` of numeric numpy columns (NaN: missing) and at most
    a last column of labels."""
    n = len(columns[0])
    lines = np.arange(1, n + 1)
    text, missing = [], []
    for col in columns:
        if len(col) != n:
            raise DataError("%s: X and y have different numbers of rows"
                            % path)
        if col.dtype.kind == "f":
            text.append(False)
            missing.append(lines[np.isnan(col)])
        else:
            text.append(True)
            missing.append(lines[np.array([v is None for v in col],
                                          dtype=bool)])
    first_text = [(str(c[0]), 1) if t else None
                  for c, t in zip(columns, text)]
    return Table(list(names), list(columns), text, missing, lines, None,
                 first_text)


def _numeric(arr, what, path):
    arr = np.asarray(arr)
    if arr.dtype.kind not in "biuf":
        raise DataError("%s: %s must hold numbers, got dtype %s"
                        % (path, what, arr.dtype))
    return arr.astype(np.float64)


def read_table(path, header="auto", na_values=NA_VALUES):
    """Read ``path`` into a :class:`Table`.

    Parameters
    ----------
    path : str
        A CSV file (any other extension than ``.npy``/``.npz``), an ``.npy``
        array (the target is one of its columns) or an ``.npz`` with arrays
        ``X`` and ``y`` (the target is the last column of the table).
    header : {'auto', 'yes', 'no'}
        Whether the CSV's first row names the columns; ``'auto'`` decides
        from the cells (see :func:`_detect_header`).
    na_values : iterable of str
        Cells read as missing, besides empty ones.

    Raises
    ------
    DataError
    """
    if not os.path.isfile(path):
        raise DataError("no such file: %s" % path)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        arr = np.load(path, allow_pickle=False)
        if arr.ndim != 2 or arr.shape[1] < 2:
            raise DataError("%s must hold a 2-D array with at least two "
                            "columns (features and target), got shape %s"
                            % (path, arr.shape))
        arr = _numeric(arr, "the array", path)
        return _from_columns(["col%d" % j for j in range(arr.shape[1])],
                             list(arr.T), path)
    if ext == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if "X" not in z.files or "y" not in z.files:
                raise DataError("%s must hold arrays 'X' and 'y'" % path)
            X, y = z["X"], z["y"]
        if X.ndim != 2 or y.ndim != 1:
            raise DataError("%s: X must be 2-D and y 1-D, got shapes %s and "
                            "%s" % (path, X.shape, y.shape))
        X = _numeric(X, "X", path)
        y = y.astype(np.float64) if y.dtype.kind in "biuf" else \
            np.asarray(y.astype(str), dtype=object)
        return _from_columns(["col%d" % j for j in range(X.shape[1])] + ["y"],
                             list(X.T) + [y], path)
    return _read_csv(path, header, set(na_values) | {""})
