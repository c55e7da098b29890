"""The command line tool: ``python -m mlcore``."""
import csv

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from threadpoolctl import threadpool_limits

from mlcore.__main__ import main

FAST = ["--n-jobs", "1", "--backend", "sequential"]


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    with threadpool_limits(limits=1):
        yield


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        if header is not None:
            w.writerow(header)
        w.writerows(rows)
    return str(path)


def _bc_str(tmp_path, n=300):
    d = load_breast_cancer()
    rng = np.random.RandomState(0)
    idx = np.sort(rng.choice(len(d.target), n, replace=False))
    rows = [list(r) + [d.target_names[t]]
            for r, t in zip(d.data[idx], d.target[idx])]
    return _write_csv(tmp_path / "bc_str.csv",
                      list(d.feature_names) + ["diagnosis"], rows)


def _run(argv, capsys):
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def _holdout(out):
    """{name: score} of the report's holdout section."""
    lines = out.split("Holdout")[1].splitlines()[1:]
    scores = {}
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] != "Fit":
            scores[parts[0]] = float(parts[1])
    return scores


def test_text_labels(tmp_path, capsys):
    path = _bc_str(tmp_path)
    rc, out, err = _run(["--data", path] + FAST, capsys)
    assert rc == 0
    scores = _holdout(out)
    assert set(scores) == {"logreg", "gnb", "tree", "extratrees", "knn",
                           "SuperLearner"}
    assert all(0.8 < s <= 1.0 for s in scores.values())


def test_header_says_what_the_scores_are(tmp_path, capsys):
    X, y = load_diabetes(return_X_y=True)
    path = _write_csv(tmp_path / "diabetes.csv",
                      ["x%d" % i for i in range(10)] + ["y"],
                      [list(r) + [t] for r, t in zip(X, y)])
    rc, out, err = _run(["--data", path] + FAST,
                        capsys)
    assert rc == 0
    head = out.splitlines()[0]
    assert head.startswith("Cross-validated scores (5 contiguous folds; "
                           "score = R^2).")
    assert "layer-2 is the meta learner, cross-validated" in head
    meta = [ln for ln in out.splitlines() if ln.startswith("layer-2/ridge")]
    (row,) = meta
    assert float(row.split()[2]) > 0  # a spread over folds, not in-sample 0
