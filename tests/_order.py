"""The order of a layer's output columns, for the tests' references.

A layer's learners, and so its output columns, are in ML-Ensemble's order:
by learner name (an estimator's lower-cased class name, or the name of a
``(name, estimator)`` pair), whatever the order they were added in. The
references the tests build by hand list the learners in that order.
"""


def learner_name(item):
    """The name a layer gives a learner: a pair's name, else the
    lower-cased class name."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0],
                                                                 str):
        return item[0]
    return type(item).__name__.lower()


def by_name(learners):
    """``learners`` (estimators or ``(name, estimator)`` pairs) in the order
    of their layer's columns (a stable sort: repeats keep their order, as
    their numbered names ``ridge-1``, ``ridge-2`` do)."""
    return sorted(learners, key=learner_name)
