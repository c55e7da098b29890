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
    meta = [ln.split() for ln in out.splitlines()
            if ln.split()[:2] == ["layer-2", "ridge"]]
    (row,) = meta
    assert float(row[3]) > 0  # a spread over folds, not in-sample 0


###############################################################################
# Help, errors that name the column, header detection, --task

def test_every_option_has_help_and_its_default():
    from mlcore.__main__ import build_parser
    parser = build_parser()
    options = [a for a in parser._actions if a.option_strings
               and a.dest != "help"]
    assert len(options) >= 13
    for action in options:
        assert action.help, action.dest
        text = action.help % {"default": action.default}
        assert "default" in text.lower(), action.dest
        if action.default is not None:
            assert str(action.default) in text, action.dest
    assert {"--task", "--impute", "--encode", "--header"} <= {
        s for a in options for s in a.option_strings}


def _clf_rows(n=120, seed=0, text_label=True):
    from sklearn.datasets import make_classification
    X, y = make_classification(n, 4, n_informative=3, n_redundant=0,
                               random_state=seed)
    labels = np.array(["no", "yes"])[y] if text_label else y
    return [[round(v, 6) for v in r] + [t] for r, t in zip(X, labels)]


def test_empty_cells_are_an_error_naming_the_column(tmp_path, capsys):
    rows = _clf_rows()
    rows[2][1] = ""          # line 4 (after the header)
    rows[9][1] = "NA"
    path = _write_csv(tmp_path / "d.csv", ["a", "age", "c", "d", "label"],
                      rows)
    rc, out, err = _run(["--data", path] + FAST, capsys)
    assert rc == 2 and out == ""
    assert ("error: column 'age' has 2 empty cells (lines 4, 11): fill them "
            "in, remove those rows, or use --impute mean|median|"
            "most_frequent") in err
    assert "Traceback" not in err
    rc, out, err = _run(["--data", path, "--impute", "median"] + FAST,
                        capsys)
    assert rc == 0 and "Holdout accuracy" in out
    rows[5][4] = ""
    path = _write_csv(tmp_path / "e.csv", ["a", "age", "c", "d", "label"],
                      rows)
    rc, out, err = _run(["--data", path, "--impute", "mean"] + FAST, capsys)
    assert rc == 2
    assert "the target column 'label' has 1 empty cell (line 7)" in err


def test_text_columns_are_an_error_or_encoded(tmp_path, capsys):
    rows = _clf_rows()
    cities = ["Oslo", "Lima", "Rome"]
    for i, r in enumerate(rows):
        r[2] = cities[i % 3]
    path = _write_csv(tmp_path / "d.csv", ["a", "b", "city", "d", "label"],
                      rows)
    rc, out, err = _run(["--data", path] + FAST, capsys)
    assert rc == 2
    assert ("error: column 'city' holds text ('Oslo' on line 2): use "
            "--encode onehot|ordinal") in err
    for enc, n_features in (("onehot", 6), ("ordinal", 4)):
        rc, out, err = _run(["--data", path, "--encode", enc] + FAST, capsys)
        assert rc == 0
        assert "%d features" % n_features in err


def test_a_csv_without_header_keeps_its_first_row(tmp_path, capsys):
    rows = _clf_rows(100)
    path = _write_csv(tmp_path / "d.csv", None, rows)
    rc, out, err = _run(["--data", path] + FAST, capsys)
    assert rc == 0
    assert "no header row" in err
    assert "train 80 rows, holdout 20 rows" in err   # all 100 rows
    rc, out, err = _run(["--data", path, "--target", "col4", "--header",
                         "no"] + FAST, capsys)
    assert rc == 0 and "target 'col4'" in err
    # all-numeric rows without header (a numeric label)
    path = _write_csv(tmp_path / "n.csv", None, _clf_rows(100,
                                                          text_label=False))
    rc, out, err = _run(["--data", path] + FAST, capsys)
    assert rc == 0 and "train 80 rows, holdout 20 rows" in err
    # with a header, the header is not data
    path = _write_csv(tmp_path / "h.csv", ["a", "b", "c", "d", "y"],
                      _clf_rows(100, text_label=False))
    rc, out, err = _run(["--data", path] + FAST, capsys)
    assert "first row taken as the header" in err
    assert "train 80 rows, holdout 20 rows" in err


@pytest.mark.filterwarnings("ignore:The number of unique classes")
def test_task_option(tmp_path, capsys):
    rng = np.random.RandomState(0)
    X = rng.randn(250, 3)
    y = np.arange(250) % 25                       # 25 integer classes
    X[:, 0] += y
    path = _write_csv(tmp_path / "d.csv", ["a", "b", "c", "y"],
                      [list(r) + [t] for r, t in zip(X, y)])
    rc, out, err = _run(["--data", path] + FAST, capsys)
    assert rc == 0
    assert ("task: regression (the target 'y' holds 25 distinct integers, "
            "more than 20; use --task classification") in err
    assert "score = R^2" in out
    rc, out, err = _run(["--data", path, "--task", "classification",
                         "--folds", "3"] + FAST, capsys)
    assert rc == 0
    assert "; classification;" in err and "score = accuracy" in out
    rows = _clf_rows()
    text = _write_csv(tmp_path / "t.csv", ["a", "b", "c", "d", "label"], rows)
    rc, out, err = _run(["--data", text, "--task", "regression"] + FAST,
                        capsys)
    assert rc == 2
    assert ("--task regression: the target column 'label' holds text "
            "(%r): regression needs numbers" % str(rows[0][-1])) in err


def test_bad_files_and_columns(tmp_path, capsys):
    path = _write_csv(tmp_path / "d.csv", ["a", "b", "label"],
                      [[1, 2, "x"], [3, 4, "y"]])
    rc, out, err = _run(["--data", path, "--target", "lbl"] + FAST, capsys)
    assert rc == 2
    assert "no column 'lbl'; the columns are ['a', 'b', 'label']" in err
    ragged = tmp_path / "r.csv"
    ragged.write_text("a,b,label\n1,2,x\n3,y\n")
    rc, out, err = _run(["--data", str(ragged)] + FAST, capsys)
    assert rc == 2 and "line 3 has 2 cells, line 1 has 3" in err
    rc, out, err = _run(["--data", str(tmp_path / "none.csv")] + FAST,
                        capsys)
    assert rc == 2 and "no such file" in err


def test_clean_message_without_scikit_learn():
    import subprocess
    import sys
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "from mlcore.__main__ import main\n"
            "sys.exit(main([]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert "scikit-learn is not installed: pip install 'mlcore[sklearn]'" \
        in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_settings_and_encodings_exit_2_without_traceback(
        tmp_path, capsys, monkeypatch):
    good = _bc_str(tmp_path)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"a,b,label\n1,2,caf\xe9\n3,4,th\xe9\n" * 20)
    with pytest.raises(SystemExit) as info:
        main(["--data", str(good), "--n-jobs", "0"])
    assert info.value.code == 2
    assert "--n-jobs" in capsys.readouterr().err
    rc, out, err = _run(["--data", str(latin)], capsys)
    assert rc == 2 and "not UTF-8" in err, err
    monkeypatch.setenv("MLCORE_N_JOBS", "abc")
    rc, out, err = _run(["--data", str(good)], capsys)
    assert rc == 2 and "error:" in err and "n_jobs" in err.lower(), err
