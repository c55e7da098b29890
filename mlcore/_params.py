"""Nested parameters of the ensembles: ``layer-<k>__<learner>__<param>``.

Every learner, preprocessing step and meta learner of an ensemble is
reachable through ``get_params(deep=True)`` / ``set_params`` under a path
built from the names the ensemble shows in :attr:`data`:

``layer-<k>__<learner>``
    learner ``<learner>`` of layer ``k`` (1-based, the meta layer included),
    named as in ``ens.data`` (its ``(name, estimator)`` name, or its
    lower-cased class name; a name that occurs more than once in the layer
    is numbered, every occurrence: ``ridge-1``, ``ridge-2``, as
    ML-Ensemble named them).
``layer-<k>__<case>__<learner>``
    a learner of preprocessing case ``<case>`` (the cases of a dict of
    preprocessing, ``pr`` for a list), as its ``data`` row
    ``layer-<k>/<case>__<learner>``.
``layer-<k>__<case>__<step>``
    preprocessing step ``<step>`` of that case (lower-cased class name,
    numbered likewise).

and ``<path>__<param>`` for the parameters of each. Setting a path replaces
the object (a learner keeps its name), setting ``<path>__<param>`` calls the
object's ``set_params``, as scikit-learn's composite estimators do. The
layers' specifications are deep-copied by :func:`sklearn.base.clone`, so a
clone has the same paths and a search that sets them on clones never
touches the original.
"""
import re

from ._spec import mlens_names
from .exceptions import LayerSpecificationError

__all__ = ["layer_slots", "deep_params", "set_layer_params", "is_layer_key"]

_LAYER_KEY = re.compile(r"^layer-(\d+)__")


def is_layer_key(key):
    """Whether ``key`` is a nested layer path (``layer-<k>__...``)."""
    return _LAYER_KEY.match(key) is not None


class _Slot(object):
    """Where one estimator sits in a layer specification: item ``key`` of
    ``container`` (a list, a dict, or the spec's attribute ``key``)."""

    def __init__(self, container, key, name, named):
        self.container, self.key = container, key
        self.name = name
        self.named = named  # held as a (name, estimator) pair

    def _raw(self):
        c, k = self.container, self.key
        return getattr(c, k) if isinstance(k, str) and not isinstance(
            c, dict) else c[k]

    def _put(self, value):
        c, k = self.container, self.key
        if isinstance(k, str) and not isinstance(c, dict):
            setattr(c, k, value)
        else:
            c[k] = value

    def get(self):
        raw = self._raw()
        return raw[1] if self.named else raw

    def set(self, value, pin_name):
        """Replace the estimator; ``pin_name`` keeps the learner's name (it
        is then held as a ``(name, estimator)`` pair)."""
        if self.named:
            self._put((self.name, value))
        elif pin_name and isinstance(self.container, list):
            self._put((self.name, value))
        elif pin_name:
            # a single estimator: a list of one pair (make_group's format)
            self._put([(self.name, value)])
        else:
            self._put(value)


def _is_pair(item):
    return (isinstance(item, tuple) and len(item) == 2
            and isinstance(item[0], str))


def _slots_at(container, key, writable=False):
    """Slots of the estimators at ``container[key]``: one estimator, or a
    list / tuple of estimators and (name, estimator) pairs. Names follow
    :func:`mlcore.layer.make_group`: a pair's name, else the lower-cased
    class name (numbered by :func:`layer_slots`)."""
    holder = _Slot(container, key, None, False)
    value = holder._raw()
    if value is None:
        return []
    if isinstance(value, tuple) and not _is_pair(value) and writable:
        value = list(value)  # a list, so that items can be replaced
        holder._put(value)
    if isinstance(value, (list, tuple)) and not _is_pair(value):
        items = [(value, i) for i in range(len(value))]
    else:
        items = [(container, key)]
    out = []
    for cont, k in items:
        raw = _Slot(cont, k, None, False)._raw()
        if _is_pair(raw):
            out.append(_Slot(cont, k, raw[0], True))
        else:
            out.append(_Slot(cont, k, type(raw).__name__.lower(), False))
    return out


def layer_slots(spec, writable=False):
    """``{path: (slot, kind)}`` of one layer specification, paths relative
    to the layer (``ridge``, ``pr__ridge``, ``sc__standardscaler``); kind is
    ``'learner'`` or ``'step'``. ``writable``: tuples of estimators become
    lists, so that their items can be replaced."""
    out = {}

    def add(path, slot, kind):
        if path in out:
            raise LayerSpecificationError(
                "two objects of one layer are both named %r: name them "
                "apart with (name, estimator) pairs" % path)
        out[path] = (slot, kind)

    pre = spec.preprocessing
    if isinstance(pre, dict):
        for case in list(pre):
            for slot in _slots_at(pre, case, writable):
                add("%s__%s" % (case, slot.name), slot, "step")
    elif pre:
        for slot in _slots_at(spec, "preprocessing", writable):
            add("pr__%s" % slot.name, slot, "step")
    ests = spec.estimators
    if isinstance(ests, dict):
        cases = sorted(ests, key=str)
        groups = [_slots_at(ests, case, writable) for case in cases]
        prefixes = ["" if case in (None, "", "no") else "%s__" % case
                    for case in cases]
    else:
        groups = [_slots_at(spec, "estimators", writable)]
        prefixes = ["pr__" if (pre and not isinstance(pre, dict)) else ""]
    taken = [str(c) for c in pre] if isinstance(pre, dict) else (
        ["pr"] if pre else [])
    names = mlens_names([[(s.name, s.get()) if s.named else s.get()
                          for s in slots] for slots in groups], taken)
    for prefix, slots, pairs in zip(prefixes, groups, names):
        for slot, (name, _) in zip(slots, pairs):
            slot.name = name
            add(prefix + slot.name, slot, "learner")
    return out


def _pin_learner_names(layers, path):
    """Hold every learner of the layer of ``path`` as a ``(name,
    estimator)`` pair, so that replacing one keeps the others' numbered
    names (``ridge-2`` stays ``ridge-2`` when ``ridge-1`` is replaced)."""
    prefix = path.split("__", 1)[0] + "__"
    for key, (slot, kind) in _all_slots(layers, writable=True).items():
        if key.startswith(prefix) and kind == "learner" and not slot.named:
            slot._put((slot.name, slot.get()))


def _all_slots(layers, writable=False):
    out = {}
    if not isinstance(layers, (list, tuple)):
        return out  # not (yet) valid layers: fit says what is wrong
    for i, spec in enumerate(layers):
        if not hasattr(spec, "estimators"):
            continue
        for path, entry in layer_slots(spec, writable).items():
            out["layer-%d__%s" % (i + 1, path)] = entry
    return out


def deep_params(layers):
    """The nested parameters of ``layers``: every path with its object and
    the object's own ``get_params(deep=True)`` under it."""
    out = {}
    for path, (slot, _) in _all_slots(layers).items():
        obj = slot.get()
        out[path] = obj
        if hasattr(obj, "get_params") and not isinstance(obj, type):
            for k, v in obj.get_params(deep=True).items():
                out["%s__%s" % (path, k)] = v
    return out


def set_layer_params(owner, layers, params):
    """Apply ``{layer path: value}`` to ``layers``: whole objects first,
    then their parameters (so that both can be set in one call)."""
    for key in sorted(params, key=lambda k: k.count("__")):
        value = params[key]
        slots = _all_slots(layers, writable=True)
        if key in slots:
            slot, kind = slots[key]
            if kind == "learner":
                _pin_learner_names(layers, key)
                slot = _all_slots(layers, writable=True)[key][0]
            slot.set(value, pin_name=(kind == "learner"))
            continue
        prefixes = [p for p in slots if key.startswith(p + "__")]
        if not prefixes:
            raise ValueError(
                "Invalid parameter %r for estimator %s. Layer paths: %s"
                % (key, type(owner).__name__, sorted(slots) or "none "
                   "(the ensemble has no layers)"))
        path = max(prefixes, key=len)
        obj = slots[path][0].get()
        if not hasattr(obj, "set_params"):
            raise ValueError("Invalid parameter %r: %r at %s has no "
                             "set_params" % (key, obj, path))
        obj.set_params(**{key[len(path) + 2:]: value})
