"""Plots for picking an ensemble: correlations and principal components.

Learners whose predictions are less correlated make better partners in an
ensemble; :func:`corrmat` and :func:`clustered_corrmap` draw the
correlation matrix of the learners' predictions (for example of
``ens.oof_predictions_`` or of a DataFrame of holdout predictions),
:func:`corr_X_y` the correlation of each feature with the target, and
:func:`pca_plot`, :func:`pca_comp_plot` and :func:`exp_var_plot` how well a
few principal components describe the input. The functions take the
arguments of ``mlens.visualization`` (and are also at its module paths
``mlcore.visualization.correlations`` and ``.var_analysis``). Once an ensemble is fitted,
:func:`importance_plot` and :func:`contribution_plot` draw the tables of
:mod:`mlcore.inspection`: which input features and which learners it
relies on.

matplotlib is an optional dependency (``pip install 'mlcore[viz]'``). It is
imported when a function is called, not when this module is imported, so
the module is always importable; a call without matplotlib raises an
ImportError that names the extra. Heatmaps are drawn with matplotlib's
``pcolormesh``; seaborn is not needed.

Differences from ML-Ensemble
----------------------------
* Inputs are never modified: ML-Ensemble's ``inflate=True`` multiplied the
  caller's correlation matrix by 100 in place, and :func:`exp_var_plot`
  refitted the caller's estimator with ``n_components=None``; here the
  matrix is copied and the estimator cloned.
* ``title`` is drawn also with ``show=False`` (ML-Ensemble drew it only
  together with ``plt.show()``).
* The default colour maps are matplotlib's (``'RdBu_r'`` for heatmaps,
  ``'viridis'`` for scatter plots) rather than seaborn palettes; pass
  ``cmap=`` to choose another.
"""
import copy
import numbers

import numpy as np

from ._compat import submodule

__all__ = ["corrmat", "clustered_corrmap", "corr_X_y", "pca_plot",
           "pca_comp_plot", "exp_var_plot", "importance_plot",
           "contribution_plot"]

_EXTRA_HINT = "pip install 'mlcore[viz]' (or pip install matplotlib)"


def _pyplot():
    """matplotlib.pyplot, or an ImportError that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("mlcore.visualization needs matplotlib: %s"
                          % _EXTRA_HINT) from exc
    return plt


def _labels(frame, axis, n):
    """Row (axis 0) or column (axis 1) labels of a DataFrame, else 0..n-1."""
    if type(frame).__name__ == "DataFrame":
        return list(frame.index if axis == 0 else frame.columns)
    return list(range(n))


def _square(corr, name):
    data = np.array(corr, dtype=np.float64)   # a copy: never alter the input
    if data.ndim != 2 or data.shape[0] != data.shape[1] or data.size == 0:
        raise ValueError("%s: expected a square correlation matrix, got shape "
                         "%r" % (name, data.shape))
    return data


def _heatmap(ax, data, mask, annotate, fmt, linewidths, cbar_kws, rows,
             cols, kwargs):
    """Draw ``data`` as a heatmap on ax, row 0 at the top, cells where
    ``mask`` is True left blank. Returns the QuadMesh."""
    from matplotlib.colors import TwoSlopeNorm

    kwargs = dict(kwargs)
    cmap = kwargs.pop("cmap", "RdBu_r")
    fmt = kwargs.pop("fmt", fmt)
    annot_kws = dict(kwargs.pop("annot_kws", None) or {})
    cbar = kwargs.pop("cbar", True)
    square = kwargs.pop("square", True)
    center = kwargs.pop("center", None)
    linecolor = kwargs.pop("linecolor", "white")
    rows = kwargs.pop("yticklabels", rows)
    cols = kwargs.pop("xticklabels", cols)
    # ML-Ensemble scaled the colours to the range of the whole matrix,
    # masked cells included.
    vmin = kwargs.pop("vmin", float(np.nanmin(data)))
    vmax = kwargs.pop("vmax", float(np.nanmax(data)))
    n_rows, n_cols = data.shape
    values = np.ma.masked_array(data, mask=mask if mask is not None else False)
    values = np.ma.masked_invalid(values)
    if center is not None:
        norm = TwoSlopeNorm(vcenter=center, vmin=min(vmin, center - 1e-12),
                            vmax=max(vmax, center + 1e-12))
        color_args = {"norm": norm}
    else:
        color_args = {"vmin": vmin, "vmax": vmax}
    mesh = ax.pcolormesh(np.arange(n_cols + 1), np.arange(n_rows + 1), values,
                         cmap=cmap, edgecolors=linecolor,
                         linewidth=linewidths, **color_args, **kwargs)
    ax.set_xlim(0, n_cols)
    ax.set_ylim(n_rows, 0)
    if square:
        ax.set_aspect("equal")
    ax.set_xticks(np.arange(n_cols) + 0.5, [str(c) for c in cols],
                  rotation=90)
    ax.set_yticks(np.arange(n_rows) + 0.5, [str(r) for r in rows],
                  rotation=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if annotate:
        for i, j in zip(*np.nonzero(~np.ma.getmaskarray(values))):
            value = values[i, j]
            r, g, b, _ = mesh.cmap(mesh.norm(value))
            # dark text on light cells and the other way round
            luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
            text_kws = {"color": "black" if luminance > 0.408 else "white",
                        "ha": "center", "va": "center"}
            text_kws.update(annot_kws)
            ax.text(j + 0.5, i + 0.5, format(value, fmt), **text_kws)
    if cbar:
        ax.figure.colorbar(mesh, ax=ax, **cbar_kws)
    return mesh


def _cbar_kws(cbar_kws):
    if isinstance(cbar_kws, str) and cbar_kws == "default":
        return {"shrink": 1.0}
    return dict(cbar_kws or {})


def corrmat(corr, figsize=(11, 9), annotate=True, inflate=True,
            linewidths=.5, cbar_kws="default", show=True, ax=None,
            title="Correlation Matrix", title_font_size=14, **kwargs):
    """Heatmap of the lower triangle of a correlation matrix.

    Parameters
    ----------
    corr : DataFrame or array-like of shape (n, n)
        The correlation matrix, e.g. ``DataFrame(predictions).corr()``. A
        DataFrame's index and columns label the axes.
    figsize : tuple, default=(11, 9)
        Size of the new figure (when ``ax`` is None).
    annotate : bool, default=True
        Write the coefficient in each cell.
    inflate : bool, default=True
        Show the coefficients times 100, as whole numbers (``fmt='2.0f'``);
        otherwise with two decimals (``'.2f'``).
    linewidths : float, default=0.5
        Width of the lines between cells.
    cbar_kws : dict or 'default', default='default'
        Arguments to ``Figure.colorbar``; ``'default'`` is
        ``{'shrink': 1.0}``.
    show : bool, default=True
        Call ``matplotlib.pyplot.show()`` at the end.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure otherwise.
    title : str, default='Correlation Matrix'
    title_font_size : int, default=14
    **kwargs
        Heatmap options: ``cmap``, ``vmin``, ``vmax``, ``center``, ``fmt``,
        ``annot_kws`` (text options), ``cbar`` (draw the colour bar,
        default True), ``square`` (default True), ``linecolor``,
        ``xticklabels``, ``yticklabels``; anything else goes to
        ``Axes.pcolormesh``.

    Returns
    -------
    ax : matplotlib Axes
        ``ax.collections[0]`` is the heatmap; its array holds the values
        drawn, masked above and on the diagonal.

    See Also
    --------
    clustered_corrmap : the full matrix, with rows ordered by cluster.
    """
    plt = _pyplot()
    data = _square(corr, "corrmat")
    if inflate:
        data *= 100
    fmt = "2.0f" if inflate else ".2f"
    mask = np.triu(np.ones(data.shape, dtype=bool))
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    n = data.shape[0]
    _heatmap(ax, data, mask, annotate, fmt, linewidths, _cbar_kws(cbar_kws),
             _labels(corr, 0, n), _labels(corr, 1, n), kwargs)
    ax.set_title(title, fontsize=title_font_size)
    if show:
        plt.show()
    return ax


def clustered_corrmap(corr, cls, label_attr_name="labels_",
                      figsize=(10, 8), annotate=False, inflate=False,
                      linewidths=.5, cbar_kws="default", show=True,
                      title_fontsize=14,
                      title_name="Clustered correlation heatmap",
                      ax=None, **kwargs):
    """Heatmap of a correlation matrix with its rows and columns ordered by
    cluster.

    ``cls.fit(corr)`` clusters the rows of the matrix (features that
    correlate alike with all others fall in one cluster); the rows and
    columns are then sorted by cluster label, keeping their order within a
    cluster, so that blocks of correlated features show as squares on the
    diagonal.

    Parameters
    ----------
    corr : DataFrame or array-like of shape (n, n)
        The correlation matrix.
    cls : estimator
        A clustering estimator, e.g. ``sklearn.cluster.KMeans(3)``; it is
        fitted in place, so its labels can be read afterwards. A class is
        instantiated with its defaults.
    label_attr_name : str, default='labels_'
        The attribute holding the fitted cluster labels.
    figsize : tuple, default=(10, 8)
    annotate : bool, default=False
        Write the coefficient in each cell.
    inflate : bool, default=False
        Show the coefficients times 100 (see :func:`corrmat`).
    linewidths : float, default=0.5
    cbar_kws : dict or 'default', default='default'
    show : bool, default=True
        Call ``matplotlib.pyplot.show()`` at the end.
    title_fontsize : int, default=14
    title_name : str, default='Clustered correlation heatmap'
    ax : matplotlib Axes, optional
    **kwargs
        Heatmap options, as for :func:`corrmat`.

    Returns
    -------
    ax : matplotlib Axes

    See Also
    --------
    corrmat
    """
    plt = _pyplot()
    data = _square(corr, "clustered_corrmap")
    if isinstance(cls, type):
        cls = cls()
    cls.fit(corr)
    try:
        labels = np.asarray(getattr(cls, label_attr_name))
    except AttributeError:
        raise AttributeError("clustered_corrmap: the fitted %s has no "
                             "attribute %r; set label_attr_name to the "
                             "attribute holding its cluster labels"
                             % (type(cls).__name__, label_attr_name)) from None
    n = data.shape[0]
    if labels.shape != (n,):
        raise ValueError("clustered_corrmap: %s.%s has shape %r, expected one "
                         "label per row (%d,)" % (type(cls).__name__,
                                                  label_attr_name,
                                                  labels.shape, n))
    order = np.argsort(labels, kind="stable")
    data = data[np.ix_(order, order)]
    if inflate:
        data *= 100
    rows = [_labels(corr, 0, n)[i] for i in order]
    cols = [_labels(corr, 1, n)[i] for i in order]
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    _heatmap(ax, data, None, annotate, "2.0f" if inflate else ".2f",
             linewidths, _cbar_kws(cbar_kws), rows, cols, kwargs)
    ax.set_title(title_name, fontsize=title_fontsize)
    if show:
        plt.show()
    return ax


def _pearson_with(X, y):
    """Pearson correlation of every column of X with y."""
    Z = np.asarray(X, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64).ravel()
    if t.shape[0] != Z.shape[0]:
        raise ValueError("corr_X_y: X has %d rows but y has %d"
                         % (Z.shape[0], t.shape[0]))
    Zc = Z - Z.mean(axis=0)
    tc = t - t.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        return (Zc.T @ tc) / np.sqrt((Zc ** 2).sum(axis=0) * (tc ** 2).sum())


def corr_X_y(X, y, top=5, figsize=(10, 8), fontsize=12, hspace=None,
             no_ticks=True, label_rotation=0, show=True):
    """Bar charts of the correlation of each feature with the target.

    Three panels: the ``top`` most positive correlations, the ``top`` most
    negative, and all of them, in decreasing order.

    Parameters
    ----------
    X : DataFrame of shape (n_samples, n_features)
        The features; its column names label the bars.
    y : array-like of shape (n_samples,)
        The target.
    top : int, default=5
        Bars in each of the two top panels (at most ``n_features``).
    figsize : tuple, default=(10, 8)
    fontsize : int, default=12
        Font size of the panel titles (tick labels are one point smaller).
    hspace : float, optional
        Height of the space between the two rows of panels; by default
        ``fontsize / 50``, plus room for the labels when they are rotated by
        more than 45 degrees.
    no_ticks : bool, default=True
        Leave the bars of the bottom panel unlabelled (for many features).
    label_rotation : float, default=0
        Rotation of the tick labels, in degrees.
    show : bool, default=True
        Call ``matplotlib.pyplot.show()`` at the end.

    Returns
    -------
    gs : matplotlib GridSpec
        The grid of the three panels; ``gs.figure.axes`` are the top
        positive, top negative and full panels. Each bar's height is a
        Pearson correlation coefficient.
    """
    if type(X).__name__ != "DataFrame":
        raise ValueError("corr_X_y: expected X to be a pandas DataFrame, got %s"
                         % type(X).__name__)
    plt = _pyplot()
    from matplotlib.gridspec import GridSpec

    if not isinstance(top, numbers.Integral) or top < 1:
        raise ValueError("corr_X_y: top must be a positive integer, got %r"
                         % (top,))
    corr = _pearson_with(X, y)
    order = np.argsort(-corr, kind="stable")   # decreasing; NaN last
    corr = corr[order]
    names = [str(X.columns[i]) for i in order]
    n = len(corr)
    top = min(int(top), n)

    if hspace is None:
        hspace = 2 * fontsize / 100
        if abs(label_rotation) > 45:
            hspace += max(len(s) for s in names) / 35 * (fontsize / 10)
    fig = plt.figure(figsize=figsize)
    gs = GridSpec(2, 2, figure=fig, hspace=hspace)
    panels = [
        (fig.add_subplot(gs[0, 0]), slice(0, top),
         "Top %d positive correlations with y" % top),
        (fig.add_subplot(gs[0, 1]), slice(n - top, n),
         "Top %d negative correlations with y" % top),
        (fig.add_subplot(gs[1, :]), slice(0, n),
         "Correlation of each feature with y"),
    ]
    for k, (ax, rows, text) in enumerate(panels):
        heights = corr[rows]
        ax.bar(np.arange(len(heights)), heights, align="center")
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_title(text, fontsize=fontsize)
        if k == 2 and no_ticks:
            ax.set_xticks([])
        else:
            ax.set_xticks(np.arange(len(heights)), names[rows],
                          rotation=label_rotation, fontsize=fontsize - 1)
    if show:
        plt.show()
    return gs


def _values(X):
    return X.values if hasattr(X, "iloc") else X


def pca_plot(X, estimator, y=None, cmap=None, figsize=(10, 8),
             title="Principal Components Analysis", title_font_size=14,
             show=True, ax=None, **kwargs):
    """Scatter plot of the data projected on 1, 2 or 3 components.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
    estimator : transformer
        With a scikit-learn API and 1, 2 or 3 output columns, e.g.
        ``PCA(n_components=2)`` or ``KernelPCA(3, kernel='rbf')``. It is
        fitted in place with ``fit_transform(X)``.
    y : array-like of shape (n_samples,), optional
        Values (e.g. class labels) that colour the points.
    cmap : matplotlib colour map or name, optional
        Colours for ``y``; matplotlib's default if None.
    figsize : tuple, default=(10, 8)
    title : str, default='Principal Components Analysis'
    title_font_size : int, default=14
    show : bool, default=True
        Call ``matplotlib.pyplot.show()`` at the end.
    ax : matplotlib Axes, optional
        Axes to draw on (a ``'3d'`` projection for 3 components); a new
        figure otherwise.
    **kwargs
        Passed to ``Axes.scatter``.

    Returns
    -------
    ax : matplotlib Axes
        ``ax.collections[0]`` holds the points (with 1 component, drawn
        along the x axis at height 0).

    Raises
    ------
    ValueError
        If the estimator gives more than 3 components, or ``ax`` is a 2-D
        axes for 3 components.
    """
    plt = _pyplot()
    k = getattr(estimator, "n_components", None)
    if isinstance(k, numbers.Integral) and not 1 <= k <= 3:
        raise ValueError("pca_plot: cannot draw n_components=%d; use 1, 2 or 3"
                         % k)
    Z = np.asarray(estimator.fit_transform(_values(X)))
    if Z.ndim == 1:
        Z = Z.reshape(-1, 1)
    k = Z.shape[1]
    if not 1 <= k <= 3:
        raise ValueError("pca_plot: the estimator gave %d components; cannot "
                         "draw more than 3 (set n_components to 1, 2 or 3)"
                         % k)
    if ax is None:
        fig = plt.figure(figsize=figsize)
        ax = fig.add_subplot(111, projection="3d" if k == 3 else None)
    elif k == 3 and getattr(ax, "name", None) != "3d":
        raise ValueError("pca_plot: 3 components need 3-D axes, e.g. "
                         "fig.add_subplot(projection='3d')")
    if y is not None:
        kwargs = dict(kwargs, c=np.asarray(y))
        if cmap is not None:
            kwargs["cmap"] = cmap
    if k == 1:
        ax.scatter(Z[:, 0], np.zeros(Z.shape[0]), **kwargs)
    elif k == 2:
        ax.scatter(Z[:, 0], Z[:, 1], **kwargs)
    else:
        ax.scatter(Z[:, 0], Z[:, 1], Z[:, 2], **kwargs)
    ax.set_title(title, fontsize=title_font_size)
    if show:
        plt.show()
    return ax


def pca_comp_plot(X, y=None, figsize=(10, 8),
                  title="Principal Components Comparison", title_font_size=14,
                  show=True, **kwargs):
    """Four :func:`pca_plot` panels: kernel PCA with a linear and an RBF
    kernel, on 2 and on 3 components.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
    y : array-like of shape (n_samples,), optional
        Values that colour the points.
    figsize : tuple, default=(10, 8)
    title : str, default='Principal Components Comparison'
        Title of the figure.
    title_font_size : int, default=14
    show : bool, default=True
        Call ``matplotlib.pyplot.show()`` at the end.
    **kwargs
        Passed to :func:`pca_plot` (``cmap``, scatter options).

    Returns
    -------
    list of 4 matplotlib Axes
        Linear and RBF kernel on 2 components, then on 3 components
        (``sklearn.decomposition.KernelPCA(dims, kernel=kernel)``).
    """
    plt = _pyplot()
    try:
        from sklearn.decomposition import KernelPCA
    except ImportError as exc:  # pragma: no cover - scikit-learn is an extra
        raise ImportError("pca_comp_plot needs scikit-learn: pip install "
                          "'mlcore[sklearn]'") from exc
    fig = plt.figure(figsize=figsize)
    axes = []
    for row, dims in enumerate((2, 3)):
        for col, kernel in enumerate(("linear", "rbf")):
            ax = fig.add_subplot(2, 2, 2 * row + col + 1,
                                 projection="3d" if dims == 3 else None)
            pca_plot(X, KernelPCA(dims, kernel=kernel), y, ax=ax, show=False,
                     title="%s kernel, %d dims" % (kernel, dims), **kwargs)
            if dims == 3:
                ax.set_facecolor((1, 1, 1))
            axes.append(ax)
    fig.suptitle(title, fontsize=title_font_size)
    if show:
        plt.show()
    return axes


def exp_var_plot(X, estimator, figsize=(10, 8), buffer=0.01, set_labels=True,
                 title="Explained variance ratio", title_font_size=14,
                 show=True, ax=None, **kwargs):
    """Step plot of the cumulative explained variance ratio by number of
    components.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    estimator : transformer
        A PCA-like estimator with ``n_components`` and, once fitted,
        ``explained_variance_ratio_``, e.g. ``sklearn.decomposition.PCA()``.
        A copy with ``n_components=None`` (all components) is fitted; the
        estimator passed is not changed.
    figsize : tuple, default=(10, 8)
    buffer : float, default=0.01
        Margin around the curve, as a fraction per component.
    set_labels : bool, default=True
        Label the axes.
    title : str, default='Explained variance ratio'
    title_font_size : int, default=14
    show : bool, default=True
        Call ``matplotlib.pyplot.show()`` at the end.
    ax : matplotlib Axes, optional
    **kwargs
        Passed to ``Axes.step`` (e.g. ``marker='s', where='post'``).

    Returns
    -------
    ax : matplotlib Axes
        ``ax.lines[0]`` is the curve: x = 1..n_components, y = the
        cumulative explained variance ratio.
    """
    plt = _pyplot()
    try:
        from sklearn.base import clone
        est = clone(estimator)
    except (ImportError, TypeError):
        est = copy.deepcopy(estimator)
    est.set_params(n_components=None)
    ratio = np.asarray(est.fit(_values(X)).explained_variance_ratio_)
    cumulative = np.cumsum(ratio)
    x = np.arange(1, len(ratio) + 1)
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    ax.step(x, cumulative, **kwargs)
    margin = buffer * len(ratio)
    ax.set_ylim(0, 1 + margin / 3)
    ax.set_xlim(1 - margin, len(ratio) + margin)
    ax.set_xticks(x)
    if set_labels:
        ax.set_xlabel("Number of components")
        ax.set_ylabel("Cumulative explained variance ratio")
    ax.set_title(title, fontsize=title_font_size)
    if show:
        plt.show()
    return ax


pca_plot_comp = pca_comp_plot
"""Compatibility alias of :func:`pca_comp_plot`, the name ML-Ensemble's
visualization guide used; use ``pca_comp_plot``."""


###############################################################################
# What an ensemble relies on (tables of mlcore.inspection)

def _check_table(table, value, error, owner):
    """Refuse, saying what to pass, a ``table`` that is not a DataFrame with
    the columns ``value`` (and ``error``, when given)."""
    source = {"importance_plot": "mlcore.inspection.permutation_importance",
              "contribution_plot": "mlcore.inspection.learner_contributions"}
    if hasattr(table, "importances_mean") and not hasattr(table, "columns"):
        raise TypeError(
            "%s takes the DataFrame of %s; for the result of "
            "sklearn.inspection.permutation_importance, make one: "
            "pandas.DataFrame({'importance_mean': r.importances_mean, "
            "'importance_std': r.importances_std}, index=feature_names)"
            % (owner, source[owner]))
    if not hasattr(table, "columns") or not hasattr(table, "sort_values"):
        raise TypeError("%s takes a pandas DataFrame, as %s returns it; got "
                        "%s" % (owner, source[owner], type(table).__name__))
    missing = [c for c in (value, error) if c is not None and
               c not in table.columns]
    if missing:
        raise ValueError("%s needs a table with the column(s) %s, as %s "
                         "returns it; the table has columns %s"
                         % (owner, missing, source[owner],
                            list(table.columns)))


def _barh(table, value, error, title, xlabel, figsize, ax, show, top,
          owner, **kwargs):
    """Horizontal bars of ``table[value]`` (largest at the top), with
    ``table[error]`` as error bars when given."""
    if top is not None and (not isinstance(top, numbers.Integral) or
                            isinstance(top, bool) or top < 1):
        raise ValueError("%s: top must be a positive int (the number of "
                         "bars) or None for all of them, got %r"
                         % (owner, top))
    _check_table(table, value, error, owner)
    if error is not None and "xerr" in kwargs:
        raise TypeError("%s draws the table's %r column as the error bars; "
                        "xerr cannot be set (pass a table with other %r "
                        "values instead)" % (owner, error, error))
    plt = _pyplot()
    data = table.sort_values(value, ascending=False)
    if top is not None:
        data = data.iloc[:top]
    data = data.iloc[::-1]  # barh draws the first row at the bottom
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    xerr = data[error].to_numpy() if error is not None else None
    ax.barh(np.arange(len(data)), data[value].to_numpy(), xerr=xerr,
            **kwargs)
    ax.set_yticks(np.arange(len(data)))
    ax.set_yticklabels([str(i) for i in data.index])
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    if show:
        plt.show()
    return ax


def importance_plot(table, top=None, figsize=(8, 6),
                    title="Permutation importance", show=True, ax=None,
                    **kwargs):
    """Bar chart of the permutation importance of the input features.

    Parameters
    ----------
    table : pandas.DataFrame
        As :func:`mlcore.inspection.permutation_importance` returns it
        (``importance_mean``, ``importance_std``).
    top : int, optional
        Only the ``top`` most important features (a positive int; None:
        all of them).
    figsize : tuple, default=(8, 6)
    title : str, default='Permutation importance'
    show : bool, default=True
        Call ``matplotlib.pyplot.show()`` at the end.
    ax : matplotlib Axes, optional
    **kwargs
        Passed to ``Axes.barh`` (but ``xerr``: the error bars are
        ``importance_std``).

    Returns
    -------
    ax : matplotlib Axes
        ``ax.patches`` are the bars, most important at the top; their widths
        are ``importance_mean``, the error bars ``importance_std``.

    Raises
    ------
    TypeError
        For a table that is not a DataFrame (the result of
        ``sklearn.inspection.permutation_importance`` included: the message
        says how to make one of it), or ``xerr`` in ``kwargs``.
    ValueError
        For a table without those columns, or a ``top`` that is not a
        positive int.
    """
    return _barh(table, "importance_mean", "importance_std", title,
                 "Drop in score when the feature is shuffled", figsize, ax,
                 show, top, "importance_plot", **kwargs)


def contribution_plot(table, figsize=(8, 6), title="Learner contributions",
                      show=True, ax=None, **kwargs):
    """Bar chart of each learner's contribution to the meta learner's
    cross-validated score.

    Parameters
    ----------
    table : pandas.DataFrame
        As :func:`mlcore.inspection.learner_contributions` returns it
        (``contribution``).
    figsize : tuple, default=(8, 6)
    title : str, default='Learner contributions'
    show : bool, default=True
        Call ``matplotlib.pyplot.show()`` at the end.
    ax : matplotlib Axes, optional
    **kwargs
        Passed to ``Axes.barh``.

    Returns
    -------
    ax : matplotlib Axes
        ``ax.patches`` are the bars, largest contribution at the top.

    Raises
    ------
    TypeError
        For a table that is not a DataFrame.
    ValueError
        For a table without a ``contribution`` column.
    """
    return _barh(table, "contribution", None, title,
                 "Drop in CV score without the learner", figsize, ax, show,
                 None, "contribution_plot", **kwargs)


# ML-Ensemble's module paths
submodule(__name__, "correlations", ["corrmat", "clustered_corrmap",
                                     "corr_X_y"])
submodule(__name__, "var_analysis", ["pca_comp_plot", "pca_plot",
                                     "exp_var_plot"])
