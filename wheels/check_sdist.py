"""Check that an mlcore sdist holds what a build and a downstream packager need.

    python wheels/check_sdist.py dist/mlcore-0.1.0.tar.gz [--source-root REPO]

Checks, each printed:

* the project files: LICENSE, CHANGELOG.md, README.md, pyproject.toml,
  setup.py, MANIFEST.in and PKG-INFO;
* the Cython source mlcore/_kernels.pyx and every tracked file under
  mlcore/ and tests/ of the checkout given with --source-root (git ls-files),
  so that a file added to the package or the test suite cannot be missing;
* no build products: compiled modules, object files, the generated
  mlcore/_kernels.c, byte code, virtual environments;
* PKG-INFO: the MIT license expression, LICENSE as license file, at least
  one Project-URL, and a long description that holds both the README and
  the changelog.

Exits with status 1 and lists what is wrong if any check fails.
"""
import argparse
import email.parser
import fnmatch
import os
import subprocess
import sys
import tarfile

REQUIRED = ["LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml",
            "setup.py", "MANIFEST.in", "PKG-INFO", "mlcore/__init__.py",
            "mlcore/_kernels.pyx", "mlcore/kernels.py", "tests/conftest.py",
            "tests/test_kernels.py"]
FORBIDDEN = ["*.so", "*.pyd", "*.o", "*.pyc", "mlcore/_kernels.c",
             "mlcore/_kernels.html", "*/__pycache__/*", ".venv*", "*/.venv*",
             "wheels/dist/*", "wheels/wheelhouse/*"]


def tracked_files(source_root):
    """Files git tracks under mlcore/ and tests/ of the checkout."""
    out = subprocess.run(["git", "-C", source_root, "ls-files", "--",
                          "mlcore", "tests"], check=True,
                         capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sdist", help="the .tar.gz file")
    parser.add_argument("--source-root", help="checkout to compare with "
                        "(its git-tracked mlcore/ and tests/ files)")
    args = parser.parse_args(argv)

    with tarfile.open(args.sdist) as tf:
        members = tf.getnames()
        top = {m.split("/", 1)[0] for m in members}
        if len(top) != 1:
            sys.exit("%s: expected one top-level directory, found %s"
                     % (args.sdist, sorted(top)))
        prefix = top.pop() + "/"
        names = {m[len(prefix):] for m in members if m.startswith(prefix)}
        pkg_info = tf.extractfile(prefix + "PKG-INFO").read().decode() \
            if prefix + "PKG-INFO" in members else ""

    print("sdist: %s (%d entries)" % (os.path.basename(args.sdist),
                                      len(names)))
    problems = []
    expected = list(REQUIRED)
    if args.source_root:
        expected += tracked_files(args.source_root)
    missing = sorted(set(expected) - names)
    if missing:
        problems.append("missing: %s" % ", ".join(missing))
    else:
        print("  has the %d expected files (LICENSE, CHANGELOG.md, README.md, "
              "the .pyx, %s)" % (len(set(expected)),
                                 "every tracked file under mlcore/ and tests/"
                                 if args.source_root else "the test suite"))
    products = sorted(n for n in names
                      if any(fnmatch.fnmatch(n, pat) for pat in FORBIDDEN))
    if products:
        problems.append("build products: %s" % ", ".join(products))
    else:
        print("  no build products")

    meta = email.parser.Parser().parsestr(pkg_info)
    body = meta.get_payload() or ""
    checks = [
        (meta.get("License-Expression") == "MIT",
         "License-Expression is %r, expected 'MIT'"
         % meta.get("License-Expression")),
        ("LICENSE" in (meta.get_all("License-File") or []),
         "LICENSE is not a License-File"),
        (bool(meta.get_all("Project-URL")), "no Project-URL"),
        ("\n# mlcore" in "\n" + body and "\n# Changelog" in body,
         "the long description lacks the README or the changelog"),
    ]
    bad = [msg for ok, msg in checks if not ok]
    problems += bad
    if not bad:
        print("  PKG-INFO: License-Expression MIT, License-File LICENSE, "
              "Project-URL: %s; long description = README + CHANGELOG"
              % "; ".join(meta.get_all("Project-URL")))

    if problems:
        print("sdist check: FAILED")
        for p in problems:
            print("  - %s" % p)
        return 1
    print("sdist check: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
