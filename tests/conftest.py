"""Shared pytest configuration. Keep it minimal; append, don't rewrite.

* Hypothesis profiles: ``default`` (100 examples per test) and ``stress``
  (10000), chosen with ``HYPOTHESIS_PROFILE=stress``.
* A session-wide check that the test run leaves no ``.mlcore_cache_*``
  directory behind in the system temporary directory.

``tests`` is a package (``tests/__init__.py``): test modules import the
shared tasks as ``from tests import _tasks``, and process workers import
them by the same name, with no ``sys.path`` edits.
"""
import os
import tempfile
import time

import pytest

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    settings = None

if settings is not None:
    _slow = [HealthCheck.too_slow, HealthCheck.data_too_large,
             HealthCheck.filter_too_much]
    settings.register_profile("default", max_examples=100, deadline=None,
                              suppress_health_check=_slow)
    settings.register_profile("stress", max_examples=10000, deadline=None,
                              suppress_health_check=_slow)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


_PREFIXES = (".mlcore_cache_", os.environ.get("MLCORE_PREFIX") or ".mlcore_cache_")


def _mlcore_caches(root):
    try:
        return {e for e in os.listdir(root) if e.startswith(_PREFIXES)}
    except OSError:
        return set()


def _in_use(path):
    """True if a live process (another test run, say) maps a file of path."""
    path = os.path.join(path, "")
    for pid in filter(str.isdigit, os.listdir("/proc") if os.path.isdir("/proc") else ()):
        try:
            with open("/proc/%s/maps" % pid) as f:
                if path in f.read():
                    return True
        except OSError:
            continue
    return False


@pytest.fixture(scope="session", autouse=True)
def _no_leftover_mlcore_caches():
    """Fail the session if it leaves new mlcore cache directories in the
    system temporary directory (ones mapped by another live process, e.g. a
    concurrent test run, are not counted)."""
    root = tempfile.gettempdir()
    before = _mlcore_caches(root)
    yield
    new = _mlcore_caches(root) - before
    if new:
        time.sleep(1.0)  # let a concurrent run finish removing its own cache
        new = {e for e in _mlcore_caches(root) - before
               if not _in_use(os.path.join(root, e))}
    if new:
        pytest.fail("the test session left mlcore cache directories in %s: %s"
                    % (root, sorted(new)), pytrace=False)
