# tutorial docs/ensemble_tutorial.rst (flennerhag/mlens), "Advanced Subsemble techniques" (typo "predict(X[:10])shape" read as ".shape")
import numpy as np
from sklearn.datasets import load_iris
from sklearn.metrics import f1_score

seed = 2017
np.random.seed(seed)

data = load_iris()
idx = np.random.permutation(150)
X = data.data[idx]
y = data.target[idx]

from mlens.ensemble import Subsemble
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

def build_subsemble():
    """Build a subsemble with random partitions"""
    sub = Subsemble(partitions=3, folds=2)
    sub.add([SVC(), LogisticRegression()])
    return sub

sub = build_subsemble()
sub.fit(X, y)
sub.predict(X[:10]).shape

from sklearn.cluster import KMeans

def build_clustered_subsemble(estimator):
    """Build a subsemble with random partitions"""
    sub = Subsemble(partitions=2, partition_estimator=estimator,
                    folds=2)

    sub.add([SVC(), LogisticRegression()])
    sub.add_meta(SVC())
    return sub

sub = build_clustered_subsemble(KMeans(2))
sub.fit(X[:, [0, 1]], y)

from mlens.preprocessing import Subset
from sklearn.pipeline import make_pipeline

cls = make_pipeline(Subset([0, 1]), KMeans(2))
sub = build_clustered_subsemble(KMeans(2))
sub.fit(X, y)

class SimplePartitioner():

    def __init__(self):
        pass

    def our_custom_function(self, X, y=None):  # strictly, speaking, y can be omitted
        """Split the data in half based on the sum of features"""
        # Labels should be numerical
        return 1 * (X.sum(axis=1) > X.sum(axis=1).mean())

sub = Subsemble(partitions=2, folds=3)
sub.add([SVC(), LogisticRegression()],
        partition_estimator=SimplePartitioner(),
        fit_estimator=False,
        attr="our_custom_function")
sub.fit(X, y)
