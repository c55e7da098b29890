"""Trust under faults: dead workers, exceptions that do not survive the trip
back, signals to the driver, a user's own files in ``path=``, non-ASCII
cache paths and full disks.

Subprocess drivers are polled with generous limits; nothing here asserts on
speed.
"""
import errno
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from mlcore import config
from mlcore.backend import ParallelProcessing, dump_array
from mlcore.exceptions import LearnerError

from tests._tasks import FaultTask, _child_env, assert_clean, make_data, \
    reference_fit, tree
from tests._tasks import _reset_config, cache_root  # noqa: F401 (fixtures)

PROCESS_BACKENDS = ("loky", "multiprocessing")
BACKENDS = ("threading", "sequential") + PROCESS_BACKENDS


###############################################################################
# A user's own files in path= are never replaced or removed

def _user_files(d):
    X0, y0 = np.full((3, 2), 7.0), np.arange(3.0)
    np.save(d / "X.npy", X0)
    np.save(d / "y.npy", y0)
    (d / "X.pkl").write_bytes(b"mine")
    (d / "layer_out_array.npy").write_bytes(b"mine too")
    return {n: (d / n).read_bytes() for n in os.listdir(d)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_user_files_in_path_untouched(cache_root, tmp_path, backend):
    d = tmp_path / "mine"
    d.mkdir()
    before = _user_files(d)
    X, y = make_data()
    pp = ParallelProcessing(backend, 2)
    task = FaultTask("layer")
    P = pp.map([task], "fit", X, y, path=str(d), return_preds=True)
    np.testing.assert_array_equal(P, reference_fit(X, y))
    # a warm start keeps the cache and its numbering
    P = pp.map([task], "predict", X, path=str(d),
               warm_start=True, return_preds=True)
    assert P.shape == (30, 1)
    pp.clear()
    after = {n: (d / n).read_bytes() for n in os.listdir(d)
             if (d / n).is_file()}
    assert after == before
    assert sorted(os.listdir(d)) == sorted(list(before) + ["task_0"])
    assert_clean(cache_root)


def test_dump_array_never_replaces(tmp_path):
    np.save(tmp_path / "X.npy", np.zeros(2))
    os.symlink(tmp_path / "elsewhere.npy", tmp_path / "X.1.npy")
    f = dump_array(np.ones(3), "X", str(tmp_path))
    assert os.path.basename(f) == "X.2.npy"
    np.testing.assert_array_equal(np.load(f), np.ones(3))
    np.testing.assert_array_equal(np.load(tmp_path / "X.npy"), np.zeros(2))
    assert not (tmp_path / "elsewhere.npy").exists()
