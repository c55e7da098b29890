"""One reader of estimator and preprocessing specifications.

A specification is what a user passes to ``make_group``,
``BaseEnsemble.add`` or ``Evaluator.fit``: an estimator, a list of
estimators or ``(name, estimator)`` pairs, or a dict mapping preprocessing
case names to such lists; and preprocessing as a list of transformers (one
case) or a dict mapping case names to lists of transformers.
"""
import os

from .exceptions import LayerSpecificationError


def check_name(name, what):
    if not isinstance(name, str) or not name or "." in name or os.sep in name:
        raise LayerSpecificationError(
            "%s name must be a non-empty str without '.' or path separators, "
            "got %r" % (what, name))
    return name


def named(estimators, what):
    """[(name, est)] from a list of estimators or (name, est) pairs; names
    default to the lower-cased class name, numbered when repeated."""
    if estimators is None:
        return []
    if not isinstance(estimators, (list, tuple)):
        estimators = [estimators]
    out, seen = [], {}
    for item in estimators:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            name, est = item
        else:
            est = item
            base = type(est).__name__.lower()
            seen[base] = seen.get(base, 0) + 1
            name = base if seen[base] == 1 else "%s-%d" % (base, seen[base])
        out.append((name, est))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise LayerSpecificationError("duplicate %s names: %s" % (what, names))
    return out


ANY_CASE = "*"
"""The case of estimators given as a list rather than a dict of cases:
every preprocessing case (a layer allows at most one)."""


def no_case(case):
    """True for the keys of a dict of estimators that mean "no
    preprocessing": None, ``''`` and ``'no'``."""
    return case in (None, "", "no")


def preprocessing_cases(preprocessing):
    """``[(case, steps)]`` of a preprocessing specification: a dict maps
    case names to steps; anything else but None is the steps of one case
    named ``'pr'``. Steps are given as they are (checked by the caller)."""
    if preprocessing is None:
        return []
    if isinstance(preprocessing, dict):
        return list(preprocessing.items())
    return [("pr", preprocessing)]


def estimators_by_case(estimators):
    """``[(case, estimators)]`` of an estimator specification: a dict maps
    preprocessing case names to estimators (the case is None for
    estimators without preprocessing, see :func:`no_case`); a list, or a
    single estimator, is one entry with case :data:`ANY_CASE`."""
    if isinstance(estimators, dict):
        return [(None if no_case(case) else case, ests)
                for case, ests in estimators.items()]
    return [(ANY_CASE, estimators)]


def flat_estimators(spec):
    if spec is None:
        return []
    if isinstance(spec, dict):
        return [e for v in spec.values() for e in flat_estimators(v)]
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        return [spec[1]]
    if isinstance(spec, (list, tuple)):
        return [e for v in spec for e in flat_estimators(v)]
    return [spec]


def sparse_facing(spec):
    """The estimators of a layer specification (``estimators``,
    ``preprocessing``, ``indexer_kwargs``) that see the layer's input as it is:
    the first step of each preprocessing case, the learners without
    preprocessing, and a partition estimator."""
    out = []
    pre = spec.preprocessing
    ests = spec.estimators
    if isinstance(pre, dict):
        for steps in pre.values():
            steps = flat_estimators(steps)
            out.extend(steps[:1])
        if isinstance(ests, dict):
            for case, group in ests.items():
                if no_case(case) or case not in pre:
                    out.extend(flat_estimators(group))
    elif pre:
        out.extend(flat_estimators(pre)[:1])
    else:
        out.extend(flat_estimators(ests))
    part = spec.indexer_kwargs.get("estimator")
    if part is not None:
        out.append(part)
    return out


def clone_estimators(spec, random_state, rng):
    """Deep-clone estimators (any nesting of lists, dicts and (name, est)
    pairs); seed unset random_states when the ensemble has one."""
    if spec is None:
        return None
    if isinstance(spec, dict):
        return {k: clone_estimators(v, random_state, rng)
                for k, v in spec.items()}
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        return (spec[0], clone_estimators(spec[1], random_state, rng))
    if isinstance(spec, (list, tuple)):
        return [clone_estimators(e, random_state, rng) for e in spec]
    from sklearn.base import clone
    est = clone(spec)
    if random_state is not None and hasattr(est, "get_params"):
        params = est.get_params(deep=True)
        seeds = {k: int(rng.randint(0, 2 ** 31 - 1)) for k, v in
                 sorted(params.items())
                 if (k == "random_state" or k.endswith("__random_state"))
                 and v is None}
        if seeds:
            est.set_params(**seeds)
    return est
