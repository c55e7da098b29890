"""Package metadata: license, changelog, project URLs, test-run settings.

The sdist's contents and the wheels are checked by scripts that build them
(wheels/check_sdist.py, wheels/check_all_pythons.sh); these tests cover what
can be read from the checkout itself.
"""
import os
import re
import subprocess
import sys
import textwrap
from urllib.parse import urlsplit

import pytest

import mlcore

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


@pytest.fixture(scope="module")
def pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def test_license_file_is_the_mit_license(pyproject):
    project = pyproject["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = read("LICENSE")
    assert text.splitlines()[0] == "MIT License"
    assert "Copyright (c) 2026 mlcore developers" in text
    # The grant and the warranty disclaimer of the MIT license, whitespace
    # normalised.
    flat = " ".join(text.split())
    assert ("Permission is hereby granted, free of charge, to any person "
            "obtaining a copy of this software") in flat
    assert ("The above copyright notice and this permission notice shall be "
            "included in all copies or substantial portions of the "
            "Software.") in flat
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' \
        in flat


def test_version_agrees_with_the_package(pyproject):
    assert pyproject["project"]["version"] == mlcore.__version__


def test_changelog_follows_keep_a_changelog(pyproject):
    text = read("CHANGELOG.md")
    lines = text.splitlines()
    assert lines[0] == "# Changelog"
    assert "Keep a Changelog" in text
    releases = [l for l in lines if l.startswith("## ")]
    assert releases, "no release sections"
    # The newest section is the next release or the current version.
    version = re.escape(pyproject["project"]["version"])
    assert re.fullmatch(r"## \[(Unreleased|%s)\]( - .+)?" % version,
                        releases[0]), releases[0]
    for heading in releases[1:]:
        assert re.fullmatch(r"## \[\d+\.\d+\.\d+\S*\] - \d{4}-\d{2}-\d{2}",
                            heading), heading
    kinds = {l[4:] for l in lines if l.startswith("### ")}
    assert kinds, "no change categories"
    assert kinds <= {"Added", "Changed", "Deprecated", "Removed", "Fixed",
                     "Security"}


def test_long_description_is_readme_then_changelog(pyproject):
    assert "readme" in pyproject["project"]["dynamic"]
    assert "readme" not in pyproject["project"]
    readme = pyproject["tool"]["setuptools"]["dynamic"]["readme"]
    assert readme["file"] == ["README.md", "CHANGELOG.md"]
    assert readme["content-type"] == "text/markdown"


def test_project_urls_are_real_addresses(pyproject):
    urls = pyproject["project"]["urls"]
    assert urls
    for label, url in urls.items():
        parts = urlsplit(url)
        assert parts.scheme == "https" and parts.netloc, (label, url)
        assert not re.search(r"example\.(com|org)|localhost|TODO|XXX|"
                             r"your[-_]?(name|org)", url, re.I), (label, url)


def test_pytest_settings_keep_the_output_short(tmp_path):
    # With the project's settings a run lists failures, not every skip and
    # expected failure (and their reasons) after the result line.
    long_reason = "an expected failure whose reason is long " * 10
    (tmp_path / "test_sample.py").write_text(textwrap.dedent("""
        import pytest

        def test_pass():
            pass

        def test_fail():
            assert 1 == 2

        @pytest.mark.skip(reason="skipped on purpose")
        def test_skip():
            pass

        @pytest.mark.xfail(reason=%r)
        def test_xfail():
            assert False
        """ % long_reason))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-c", os.path.join(ROOT, "pyproject.toml"),
         "--rootdir", str(tmp_path), str(tmp_path / "test_sample.py")],
        capture_output=True, text=True, cwd=str(tmp_path), timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "1 failed, 1 passed, 1 skipped, 1 xfailed" in out, out
    assert "FAILED test_sample.py::test_fail" in out, out
    assert "skipped on purpose" not in out, out
    assert "reason is long" not in out, out
    assert "XFAIL" not in out and "SKIPPED" not in out, out
