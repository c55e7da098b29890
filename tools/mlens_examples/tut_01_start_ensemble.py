# tutorial docs/source/examples/start_tutorial.py (flennerhag/mlens), "Ensemble guide"
import sys
import numpy as np
from pandas import DataFrame
from sklearn.metrics import accuracy_score
from sklearn.datasets import load_iris

sys.stderr = sys.stdout

seed = 2017
np.random.seed(seed)

data = load_iris()
idx = np.random.permutation(150)
X = data.data[idx]
y = data.target[idx]

from mlens.ensemble import SuperLearner
from sklearn.linear_model import LogisticRegression
from sklearn.ensemble import RandomForestClassifier
from sklearn.svm import SVC

ensemble = SuperLearner(scorer=accuracy_score, random_state=seed, verbose=1)
ensemble.add([RandomForestClassifier(random_state=seed), SVC()])
ensemble.add_meta(LogisticRegression())
ensemble.fit(X[:75], y[:75])
preds = ensemble.predict(X[75:])
print("Fit data:\n%r" % ensemble.data)
print("Prediction score: %.3f" % accuracy_score(preds, y[75:]))

ensemble = SuperLearner(scorer=accuracy_score, random_state=seed)
ensemble.add([RandomForestClassifier(random_state=seed), LogisticRegression()])
ensemble.add([LogisticRegression(), SVC()])
ensemble.add_meta(SVC())
ensemble.fit(X[:75], y[:75])
preds = ensemble.predict(X[75:])
print("Fit data:\n%r" % ensemble.data)
