"""ML-Ensemble's submodule paths on mlcore's flat modules.

ML-Ensemble spread each package over submodules (``mlens.ensemble.blend``,
``mlens.model_selection.model_selection``, ...) that users imported from
directly. mlcore keeps one module per concept; :func:`submodule` registers a
thin module at the old path that holds the same objects, so that
``from mlcore.ensemble.blend import BlendEnsemble`` works.
"""
import importlib.machinery
import sys
import types

__all__ = ["submodule"]


def submodule(parent, name, names, doc=None):
    """Register the module ``<parent>.<name>`` holding ``names`` of module
    ``parent``, the way :mod:`os` registers ``os.path``.

    Parameters
    ----------
    parent : str
        The ``__name__`` of the module that defines the objects (it must be
        in :data:`sys.modules`, i.e. being imported).
    name : str
        The submodule's name, without the parent's.
    names : list of str
        Attributes of ``parent`` the submodule holds (its ``__all__``).
    doc : str, optional
        Its docstring; default: says where the objects live.

    Returns
    -------
    module
    """
    source = sys.modules[parent]
    if hasattr(source, name):
        raise RuntimeError("%s already has an attribute %r" % (parent, name))
    full = "%s.%s" % (parent, name)
    if doc is None:
        doc = ("ML-Ensemble's module path, kept for compatibility: the same "
               "objects as :mod:`%s`, where new code imports them." % parent)
    mod = types.ModuleType(full, doc)
    for attr in names:
        setattr(mod, attr, getattr(source, attr))
    mod.__all__ = list(names)
    # a spec, so that importlib.util.find_spec and pickle's lookups work
    mod.__spec__ = importlib.machinery.ModuleSpec(full, None)
    sys.modules[full] = mod
    # ``import a.b`` finds a.b in sys.modules but binds it on ``a`` only
    # when it loads it itself
    setattr(source, name, mod)
    return mod
