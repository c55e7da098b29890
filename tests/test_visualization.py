"""Tests of mlcore.visualization on matplotlib's Agg backend: what is drawn
equals the numbers computed with numpy, pandas, scipy and scikit-learn."""
import subprocess
import sys
import warnings

import numpy as np
import pytest

import mlcore.visualization as viz

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")
from scipy.stats import pearsonr  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.decomposition import PCA, KernelPCA  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def make_data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    X[:, 1] = X[:, 0] + 0.1 * rng.normal(size=n)   # a correlated pair
    X[:, 4] = X[:, 3] + 0.3 * rng.normal(size=n)  # and another
    y = 2 * X[:, 0] - X[:, 3] + rng.normal(size=n)
    cols = ["f%d" % i for i in range(6)]
    return pd.DataFrame(X, columns=cols), pd.Series(y)


def texts(ax):
    return {(round(t.get_position()[0], 6), round(t.get_position()[1], 6)):
            t.get_text() for t in ax.texts}


###############################################################################
# corrmat

def test_corrmat_draws_lower_triangle_of_pandas_corr():
    X, _ = make_data()
    corr = X.corr()
    before = corr.copy()
    ax = viz.corrmat(corr, show=False)
    pd.testing.assert_frame_equal(corr, before)      # input not inflated
    mesh = ax.collections[0]
    drawn = mesh.get_array()
    n = corr.shape[0]
    assert drawn.shape == (n, n)
    lower = np.tril(np.ones((n, n), dtype=bool), k=-1)
    np.testing.assert_array_equal(np.ma.getmaskarray(drawn), ~lower)
    np.testing.assert_allclose(drawn.data[lower], 100 * corr.values[lower])
    # annotations: one per lower cell, at its centre, formatted like '2.0f'
    labels = texts(ax)
    assert len(labels) == lower.sum()
    for i, j in zip(*np.nonzero(lower)):
        assert labels[(j + 0.5, i + 0.5)] == format(100 * corr.values[i, j], "2.0f")
    assert [t.get_text() for t in ax.get_xticklabels()] == list(corr.columns)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(corr.index)
    assert ax.get_title() == "Correlation Matrix"
    assert ax.get_ylim() == (n, 0)                   # row 0 at the top
    assert len(ax.figure.axes) == 2                  # heatmap + colour bar
    assert mesh.norm.vmin == pytest.approx(100 * corr.values.min())
    assert mesh.norm.vmax == pytest.approx(100)


def test_corrmat_options():
    X, _ = make_data()
    corr = X.corr().values
    fig, ax = plt.subplots()
    out = viz.corrmat(corr, inflate=False, annotate=False, show=False, ax=ax,
                      cbar=False, cmap="viridis", vmin=-1, vmax=1,
                      title="T", title_font_size=9)
    assert out is ax and len(ax.texts) == 0 and len(fig.axes) == 1
    mesh = ax.collections[0]
    lower = np.tril(np.ones(corr.shape, dtype=bool), k=-1)
    np.testing.assert_allclose(mesh.get_array().data[lower], corr[lower])
    assert mesh.cmap.name == "viridis"
    assert (mesh.norm.vmin, mesh.norm.vmax) == (-1, 1)
    assert ax.get_title() == "T" and ax.title.get_fontsize() == 9
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(i) for i in range(6)]
    ax2 = viz.corrmat(corr, inflate=False, show=False, fmt=".3f")
    assert texts(ax2)[(0.5, 1.5)] == format(corr[1, 0], ".3f")


def test_corrmat_rejects_non_square():
    with pytest.raises(ValueError, match="square"):
        viz.corrmat(np.zeros((3, 2)), show=False)


def test_corrmat_show_calls_pyplot_show(monkeypatch):
    calls = []
    monkeypatch.setattr(plt, "show", lambda: calls.append(1))
    viz.corrmat(np.eye(3), show=True)
    assert calls == [1]


###############################################################################
# clustered_corrmap

def test_clustered_corrmap_orders_by_cluster():
    X, _ = make_data()
    corr = X.corr()
    km = KMeans(3, n_init=10, random_state=0)
    ax = viz.clustered_corrmap(corr, km, show=False)
    labels = km.labels_                       # fitted in place, as in mlens
    order = np.argsort(labels, kind="stable")
    names = [corr.columns[i] for i in order]
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    drawn = ax.collections[0].get_array()
    assert not np.ma.getmaskarray(drawn).any()          # the full matrix
    np.testing.assert_allclose(drawn.data, corr.loc[names, names].values)
    # the correlated pairs end up next to each other in the same cluster
    assert labels[0] == labels[1] and labels[3] == labels[4]
    assert labels[0] != labels[3]
    assert abs(names.index("f0") - names.index("f1")) == 1
    assert abs(names.index("f3") - names.index("f4")) == 1
    assert ax.get_title() == "Clustered correlation heatmap"


def test_clustered_corrmap_array_inflate_annotate():
    X, _ = make_data()
    corr = X.corr().values

    class FixedLabels:
        def fit(self, data):
            self.groups = np.array([1, 0, 1, 0, 2, 0])
            return self

    ax = viz.clustered_corrmap(corr, FixedLabels(), label_attr_name="groups",
                               inflate=True, annotate=True, show=False)
    order = [1, 3, 5, 0, 2, 4]
    np.testing.assert_allclose(ax.collections[0].get_array().data,
                               100 * corr[np.ix_(order, order)])
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(i) for i in order]
    assert len(ax.texts) == 36
    with pytest.raises(AttributeError, match="label_attr_name"):
        viz.clustered_corrmap(corr, FixedLabels(), show=False)


###############################################################################
# corr_X_y

def test_corr_X_y_bars_are_pearson_coefficients():
    X, y = make_data()
    gs = viz.corr_X_y(X, y, top=2, show=False)
    ref = {c: pearsonr(X[c], y)[0] for c in X.columns}
    ranked = sorted(ref, key=lambda c: -ref[c])
    ax_pos, ax_neg, ax_all = gs.figure.axes

    def heights(ax):
        return [p.get_height() for p in ax.patches]

    np.testing.assert_allclose(heights(ax_all), [ref[c] for c in ranked],
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(heights(ax_pos), [ref[c] for c in ranked[:2]],
                               rtol=1e-12)
    np.testing.assert_allclose(heights(ax_neg), [ref[c] for c in ranked[-2:]],
                               rtol=1e-12)
    assert [t.get_text() for t in ax_pos.get_xticklabels()] == ranked[:2]
    assert [t.get_text() for t in ax_neg.get_xticklabels()] == ranked[-2:]
    assert ax_all.get_xticks().size == 0                # no_ticks=True
    # pandas agrees too
    np.testing.assert_allclose(sorted(heights(ax_all)),
                               sorted(X.corrwith(y).values), rtol=1e-12)


def test_corr_X_y_options_and_errors():
    X, y = make_data()
    gs = viz.corr_X_y(X, y.values, top=50, no_ticks=False, label_rotation=90,
                      show=False)
    ax_pos, _, ax_all = gs.figure.axes
    assert len(ax_pos.patches) == 6                      # top capped at n
    assert len(ax_all.get_xticklabels()) == 6
    assert gs.hspace > 2 * 12 / 100                      # room for labels
    with pytest.raises(ValueError, match="DataFrame"):
        viz.corr_X_y(X.values, y, show=False)
    with pytest.raises(ValueError, match="rows"):
        viz.corr_X_y(X, y[:10], show=False)


###############################################################################
# PCA plots

def test_pca_plot_2d_and_3d_points():
    X, y = make_data()
    ax = viz.pca_plot(X, PCA(2, svd_solver="full"), show=False)
    np.testing.assert_allclose(ax.collections[0].get_offsets(),
                               PCA(2, svd_solver="full").fit_transform(X.values))
    assert ax.get_title() == "Principal Components Analysis"
    labels = (y > 0).astype(int).values
    ax = viz.pca_plot(X.values, PCA(3, svd_solver="full"), labels,
                      cmap="coolwarm", show=False)
    assert ax.name == "3d"
    xs, ys, zs = ax.collections[0]._offsets3d
    Z = PCA(3, svd_solver="full").fit_transform(X.values)
    np.testing.assert_allclose(np.column_stack([xs, ys, zs]), Z)
    np.testing.assert_array_equal(ax.collections[0].get_array(), labels)
    ax = viz.pca_plot(X, PCA(1, svd_solver="full"), show=False)
    off = ax.collections[0].get_offsets()
    np.testing.assert_allclose(off[:, 0],
                               PCA(1, svd_solver="full").fit_transform(X)[:, 0])
    np.testing.assert_array_equal(off[:, 1], 0)


def test_pca_plot_errors():
    X, _ = make_data()
    with pytest.raises(ValueError, match="1, 2 or 3"):
        viz.pca_plot(X, PCA(4), show=False)
    with pytest.raises(ValueError, match="more than 3"):
        viz.pca_plot(X, PCA(), show=False)
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="3-D axes"):
        viz.pca_plot(X, PCA(3), ax=ax, show=False)


def test_pca_comp_plot_panels():
    X, y = make_data(n=60)
    axes = viz.pca_comp_plot(X, y.values, show=False)
    assert len(axes) == 4
    assert [ax.get_title() for ax in axes] == [
        "linear kernel, 2 dims", "rbf kernel, 2 dims",
        "linear kernel, 3 dims", "rbf kernel, 3 dims"]
    for ax, (dims, kernel) in zip(axes, [(2, "linear"), (2, "rbf"),
                                         (3, "linear"), (3, "rbf")]):
        Z = KernelPCA(dims, kernel=kernel).fit_transform(X.values)
        if dims == 2:
            drawn = ax.collections[0].get_offsets()
        else:
            assert ax.name == "3d"
            drawn = np.column_stack(ax.collections[0]._offsets3d)
        np.testing.assert_allclose(drawn, Z, rtol=1e-7, atol=1e-10)
    assert axes[0].figure._suptitle.get_text() == "Principal Components Comparison"
    assert viz.pca_plot_comp is viz.pca_comp_plot


def test_exp_var_plot_curve():
    X, _ = make_data()
    pca = PCA(2)
    ax = viz.exp_var_plot(X, pca, marker="s", where="post", show=False)
    assert pca.n_components == 2 and not hasattr(pca, "components_")
    ref = np.cumsum(PCA().fit(X.values).explained_variance_ratio_)
    line = ax.lines[0]
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 7))
    np.testing.assert_allclose(line.get_ydata(), ref, rtol=1e-12)
    assert line.get_marker() == "s" and line.get_drawstyle() == "steps-post"
    np.testing.assert_array_equal(ax.get_xticks(), np.arange(1, 7))
    assert ax.get_ylim() == pytest.approx((0, 1 + 0.06 / 3))
    assert ax.get_xlabel() and ax.get_ylabel()
    ax = viz.exp_var_plot(X, PCA(), set_labels=False, show=False)
    assert ax.get_xlabel() == "" and ax.get_ylabel() == ""


###############################################################################
# matplotlib is optional

def test_import_does_not_import_matplotlib():
    code = ("import sys, mlcore.visualization; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_matplotlib_names_the_extra(monkeypatch):
    for name in ("matplotlib", "matplotlib.pyplot"):
        monkeypatch.setitem(sys.modules, name, None)
    calls = [lambda: viz.corrmat(np.eye(2), show=False),
             lambda: viz.clustered_corrmap(np.eye(2), KMeans(2), show=False),
             lambda: viz.corr_X_y(pd.DataFrame(np.eye(3)), np.arange(3.0)),
             lambda: viz.pca_plot(np.eye(3), PCA(2), show=False),
             lambda: viz.pca_comp_plot(np.eye(3), show=False),
             lambda: viz.exp_var_plot(np.eye(3), PCA(), show=False)]
    for call in calls:
        with pytest.raises(ImportError, match=r"mlcore\[viz\]"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                call()
