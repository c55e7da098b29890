"""One reader of estimator and preprocessing specifications.

A specification is what a user passes to ``make_group``,
``BaseEnsemble.add`` or ``Evaluator.fit``: an estimator, a list of
estimators or ``(name, estimator)`` pairs, or a dict mapping preprocessing
case names to such lists; and preprocessing as a list of transformers or
``(name, transformer)`` pairs (one case) or a dict mapping case names to
such lists.
"""
import os
from collections import Counter

from .exceptions import LayerSpecificationError


def check_name(name, what):
    if not isinstance(name, str) or not name or "." in name or os.sep in name:
        raise LayerSpecificationError(
            "%s name must be a non-empty str without '.' or path separators, "
            "got %r" % (what, name))
    return name


def is_pair(item):
    """Whether ``item`` is a ``(name, estimator)`` pair."""
    return isinstance(item, tuple) and len(item) == 2 and isinstance(
        item[0], str)


def _pairs(estimators):
    """A list of estimators or ``(name, estimator)`` pairs from one
    estimator, one pair or a list (tuple) of them."""
    if estimators is None:
        return []
    if is_pair(estimators) or not isinstance(estimators, (list, tuple)):
        return [estimators]
    return list(estimators)


def mlens_names(lists, taken=()):
    """``[(name, estimator)]`` for each list of estimators or ``(name,
    estimator)`` pairs, named as ML-Ensemble named a layer's learners.

    A name is the given one or the class name, lower-cased with spaces
    made ``-``. A name that occurs more than once across the lists (the
    preprocessing cases of one layer), or that is also in ``taken`` (the
    preprocessing case names), is numbered ``-1``, ``-2``, ... in the
    order of the lists: every occurrence, the first one too.
    """
    named = [[("-".join((i[0] if is_pair(i) else
                         type(i).__name__).split()).lower(),
               i[1] if is_pair(i) else i) for i in _pairs(items)]
             for items in lists]
    counts = Counter([n for items in named for n, _ in items] + list(taken))
    seen = Counter()
    out = []
    for items in named:
        renamed = []
        for name, est in items:
            if counts[name] > 1:
                seen[name] += 1
                name = "%s-%d" % (name, seen[name])
            renamed.append((name, est))
        out.append(renamed)
    return out


def named(estimators, what):
    """[(name, est)] from a list of estimators or (name, est) pairs; names
    default to the lower-cased class name, numbered when repeated."""
    if estimators is None:
        return []
    if is_pair(estimators) or not isinstance(estimators, (list, tuple)):
        estimators = [estimators]
    out, seen = [], {}
    for item in estimators:
        if is_pair(item):
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


def unnamed_steps(steps):
    """The transformers of one preprocessing case, in order: ``steps`` is
    a transformer or a list of transformers and ``(name, transformer)``
    pairs (ML-Ensemble's named steps; the names are those of the
    ``get_params`` paths)."""
    if steps is None:
        return []
    if is_pair(steps) or not isinstance(steps, (list, tuple)):
        steps = [steps]
    return [step[1] if is_pair(step) else step for step in steps]


_LEARNER_FORMAT = (
    "A layer's learners are scikit-learn estimators (such as "
    "sklearn.linear_model.Ridge()) or (name, estimator) pairs: one, a list "
    "of them, or a dict mapping preprocessing case names to such lists.")
_STEP_FORMAT = (
    "Preprocessing steps are scikit-learn transformers (such as "
    "sklearn.preprocessing.StandardScaler()) or (name, transformer) pairs: "
    "a list of them (one case), or a dict mapping case names to such "
    "lists.")


def _check_object(obj, what, where, needs, fmt):
    """Raise LayerSpecificationError unless ``obj`` has every method named
    in ``needs`` and get_params."""
    if isinstance(obj, type):
        raise LayerSpecificationError(
            "%s: %s %s is a class, not an instance: pass %s()"
            % (where, what, obj.__name__, obj.__name__))
    missing = [name for name in needs if not hasattr(obj, name)]
    if missing:
        raise LayerSpecificationError(
            "%s: %r (%s) is not a %s: it has no %s method. %s"
            % (where, obj, type(obj).__name__, what, ", ".join(missing), fmt))
    if not hasattr(obj, "get_params"):
        raise LayerSpecificationError(
            "%s: %s %r has no get_params method: each fit uses a copy made "
            "by sklearn.base.clone, which needs get_params and set_params "
            "(derive its class from sklearn.base.BaseEstimator)"
            % (where, what, obj))


def check_layer_spec(estimators, preprocessing, where):
    """Raise a LayerSpecificationError that says what is expected unless
    every learner of ``estimators`` has ``fit`` and ``get_params`` (as
    ML-Ensemble required), and every preprocessing step ``fit``,
    ``transform`` and ``get_params``; ``where`` names the layer in the
    message."""
    if estimators is None or (isinstance(estimators, (list, tuple, dict))
                              and not estimators):
        raise LayerSpecificationError(
            "%s has no learners. %s" % (where, _LEARNER_FORMAT))
    for _, ests in estimators_by_case(estimators):
        if ests is None:
            continue
        for item in _pairs(ests):
            est = item[1] if is_pair(item) else item
            _check_object(est, "learner", where, ("fit",), _LEARNER_FORMAT)
    for _, steps in preprocessing_cases(preprocessing):
        for step in unnamed_steps(steps):
            _check_object(step, "preprocessing step", where,
                          ("fit", "transform"), _STEP_FORMAT)


def flat_estimators(spec):
    if spec is None:
        return []
    if isinstance(spec, dict):
        return [e for v in spec.values() for e in flat_estimators(v)]
    if is_pair(spec):
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
    if is_pair(spec):
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
