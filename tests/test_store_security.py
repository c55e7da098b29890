"""Security of what the engine stores (mlcore._store, through mlcore.backend).

No shell-outs in the sources, private 0700 caches, user caches never
removed, cache files read only from the processor's own cache, no write
through a planted symbolic link, and caches that survive a change of
working directory or a forked child.
"""
import os
import re
import stat
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path

import joblib
import numpy as np
import pytest

import mlcore
from mlcore import config
from mlcore.backend import ParallelProcessing

from tests._tasks import FaultTask as FoldTask
from tests._tasks import InjectedError as LearnerError
from tests._tasks import (_child_env, assert_clean, make_data, reference_fit,
                          tree)
from tests._tasks import _reset_config, cache_root  # noqa: F401 (fixtures)

pytestmark = [
    # NaN and inf are fed on purpose; numpy's notices about them are noise.
    pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning"),
]

BACKENDS = ("threading", "sequential", "loky", "multiprocessing")
PROCESS_BACKENDS = ("loky", "multiprocessing")
N_JOBS = 2


###############################################################################
# 4. Security

_FORBIDDEN = re.compile(r"\bsubprocess\b|\bos\s*\.\s*(system|popen|exec\w*|"
                        r"spawn\w*|fork\w*)\b|\bshell\s*=\s*True|\bpty\b|"
                        r"\bcommands\b|\beval\s*\(|\bexec\s*\(")


def _code_only(path):
    """The source of a module without comments and string literals."""
    with open(path, "rb") as f:
        tokens = list(tokenize.tokenize(f.readline))
    return " ".join(t.string for t in tokens
                    if t.type not in (tokenize.COMMENT, tokenize.STRING))


def _mlcore_sources():
    root = Path(mlcore.__file__).parent
    return sorted(p for p in root.iterdir() if p.suffix in (".py", ".pyx"))


@pytest.mark.parametrize("path", _mlcore_sources(), ids=lambda p: p.name)
def test_security_no_shell_out(path):
    if path.suffix == ".pyx":
        code = path.read_text()  # Cython: grep the raw text
    else:
        code = _code_only(path)
    hits = _FORBIDDEN.findall(code)
    assert not hits, "%s uses %s" % (path.name, hits)
    raw = path.read_text()
    assert "shell=True" not in raw.replace(" ", "")


def test_security_sources_found():
    names = {p.name for p in _mlcore_sources()}
    assert {"backend.py", "kernels.py", "config.py"} <= names


@pytest.mark.parametrize("backend", PROCESS_BACKENDS)
def test_security_private_cache(cache_root, backend):
    X, y = make_data()
    old = os.umask(0)  # even a permissive umask gives a private directory
    try:
        pp = ParallelProcessing(backend, N_JOBS)
        pp.map([FoldTask()], "fit", X, y)
    finally:
        os.umask(old)
    d = pp.job.dir
    assert os.path.dirname(d) == str(cache_root)
    assert os.path.basename(d).startswith(config.get_prefix())
    st_ = os.stat(d)
    assert stat.S_IMODE(st_.st_mode) == 0o700
    assert st_.st_uid == os.getuid()
    assert not os.path.islink(d)
    pp.clear()
    assert_clean(cache_root)


def test_security_prefix_is_honoured(cache_root):
    config.set_prefix("myprefix_")
    pp = ParallelProcessing("loky", N_JOBS)
    pp.map([FoldTask()], "fit", *make_data())
    assert os.path.basename(pp.job.dir).startswith("myprefix_")
    pp.clear()
    assert_clean(cache_root)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["str", "pathlib", "missing-dir"])
def test_security_user_cache_kept(cache_root, tmp_path, backend, kind):
    user = tmp_path / "my cache; rm -rf ~"   # an awkward name on purpose
    if kind != "missing-dir":
        user.mkdir()
        (user / "keep.txt").write_text("mine")
    path = user if kind == "pathlib" else str(user)
    X, y = make_data()
    pp = ParallelProcessing(backend, N_JOBS)
    P = pp.map([FoldTask()], "fit", X, y, path=path, return_preds=True)
    np.testing.assert_array_equal(P, reference_fit(X, y))
    assert pp.job.dir == str(user)  # used as given
    pp.clear()
    assert user.is_dir()
    if kind != "missing-dir":
        assert (user / "keep.txt").read_text() == "mine"
    # a failure does not remove it either
    with pytest.raises(LearnerError):
        ParallelProcessing(backend, N_JOBS).map(
            [FoldTask("x", fail=("raise", "fit", 1))], "fit", X, y,
            path=path)
    assert user.is_dir()
    if kind != "missing-dir":
        assert (user / "keep.txt").read_text() == "mine"
    assert (user / "task_0" / "learner.0.npy").is_file()  # the cache
    assert_clean(cache_root)  # and nothing made in the tmpdir


@pytest.mark.parametrize("backend", PROCESS_BACKENDS)
def test_security_loads_only_own_cache(cache_root, tmp_path, monkeypatch,
                                       backend):
    """Arrays are read only from the processor's own cache (and from input
    files the caller names), never from another cache; planted files in a
    user cache are not picked up as inputs or outputs."""
    other = cache_root / ".mlcore_cache_planted"
    other.mkdir()
    np.save(other / "X.npy", np.full((30, 4), 666.0))
    np.save(other / "y.npy", np.full(30, 666.0))
    user = tmp_path / "user_cache"
    user.mkdir()
    np.save(user / "X.npy", np.full((30, 4), 666.0))
    np.save(user / "learner_out_array.npy", np.full((30, 1), 666.0))
    user_input = tmp_path / "input.npy"
    X, y = make_data()
    np.save(user_input, X)

    loaded = []
    real_np_load, real_jl_load = np.load, joblib.load

    def spy_np(f, *a, **k):
        loaded.append(os.fspath(f))
        return real_np_load(f, *a, **k)

    def spy_jl(f, *a, **k):
        loaded.append(os.fspath(f))
        return real_jl_load(f, *a, **k)
    monkeypatch.setattr(np, "load", spy_np)
    monkeypatch.setattr(joblib, "load", spy_jl)

    for path in (None, str(user)):
        for inp in (X, str(user_input)):
            loaded.clear()
            pp = ParallelProcessing(backend, N_JOBS)
            P = pp.map([FoldTask()], "fit", inp, y, path=path,
                       return_preds=True)
            np.testing.assert_array_equal(P, reference_fit(X, y))
            own = os.path.join(pp.job.dir, "")
            for f in loaded:
                assert f.startswith(own) or f == str(user_input), f
            assert loaded, "nothing memory-mapped?"
            pp.clear()
    assert np.load(other / "X.npy")[0, 0] == 666.0  # untouched
    assert (user / "learner_out_array.npy").exists()



###############################################################################
# 6. Regressions: bugs this suite found (fixed in 8cf5d63 and b51aee7)

@pytest.mark.parametrize("backend", PROCESS_BACKENDS)
def test_regression_relative_tmpdir_and_chdir(tmp_path, monkeypatch, backend):
    """A relative tmpdir and a chdir between calls: the engine's cache must
    still be found (by the workers too) and removed. Before the fix the first
    cache leaked (removed relative to the new cwd) and loky workers, started
    in the old cwd, wrote into the wrong directory."""
    for d in ("a/rel", "b/rel"):
        (tmp_path / d).mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a")
    config.set_tmpdir("rel")
    X, y = make_data()
    pp = ParallelProcessing(backend, N_JOBS)
    pp.map([FoldTask()], "fit", X, y)
    assert os.path.isabs(pp.job.dir)
    monkeypatch.chdir(tmp_path / "b")
    P = pp.map([FoldTask()], "fit", X, y, return_preds=True)
    np.testing.assert_array_equal(P, reference_fit(X, y))
    pp.clear()
    assert tree(tmp_path / "a" / "rel") == [] and tree(tmp_path / "b" / "rel") == []


# Was: backend.py _set_path: a relative user cache path stays relative;
# workers started in another cwd save into the wrong directory
def test_regression_relative_user_path_and_chdir(tmp_path, monkeypatch):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    monkeypatch.chdir(tmp_path / "a")
    X, y = make_data()
    pp = ParallelProcessing("loky", N_JOBS)
    pp.map([FoldTask("warmup")], "fit", X, y)  # workers start in a/
    pp.clear()
    monkeypatch.chdir(tmp_path / "b")
    try:
        P = pp.map([FoldTask()], "fit", X, y, path="cache",
                   return_preds=True)
        np.testing.assert_array_equal(P, reference_fit(X, y))
    finally:
        pp.clear()
    assert not (tmp_path / "a" / "cache").exists()


_FORK_CHILD = textwrap.dedent(r"""
    import os, sys
    import numpy as np
    from mlcore.backend import ParallelProcessing
    from tests._tasks import FaultTask as FoldTask, make_data
    pp = ParallelProcessing("multiprocessing", 2)
    pp.map([FoldTask()], "fit", *make_data())
    d = pp.job.dir
    pid = os.fork()
    if pid == 0:
        sys.exit(0)  # a forked child ending normally runs atexit handlers
    os.waitpid(pid, 0)
    print("PARENT_CACHE_ALIVE", os.path.isdir(d))
""")


# Was: backend.py: the weakref.finalize that removes a temporary cache also
# runs at exit in a forked child, removing the parent's live cache
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_regression_forked_child_exit_keeps_parent_cache(cache_root):
    r = subprocess.run([sys.executable, "-c", _FORK_CHILD],
                       env=_child_env(cache_root), capture_output=True,
                       text=True, timeout=120)
    assert "PARENT_CACHE_ALIVE" in r.stdout, r.stderr
    assert "PARENT_CACHE_ALIVE True" in r.stdout
    assert_clean(cache_root)


# Was: backend.py dump_array and _gen_prediction_array test os.path.exists,
# which is False for a dangling symlink, and then write through it
@pytest.mark.parametrize("planted", ["X.npy", "learner_out_array.npy"])
def test_regression_no_write_through_dangling_symlink(tmp_path, planted):
    user, elsewhere = tmp_path / "shared_cache", tmp_path / "elsewhere"
    user.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere / "victim.npy", user / planted)
    X, y = make_data()
    pp = ParallelProcessing("loky", N_JOBS)
    P = pp.map([FoldTask()], "fit", X, y, path=str(user), return_preds=True)
    pp.clear()
    np.testing.assert_array_equal(P, reference_fit(X, y))
    assert not (elsewhere / "victim.npy").exists(), \
        "the engine wrote through a symlink planted in its cache directory"
