# tutorial docs/ensemble_tutorial.rst (flennerhag/mlens), "General multi-layer ensemble learning"
import numpy as np
from sklearn.datasets import load_iris
from sklearn.metrics import f1_score

seed = 2017
np.random.seed(seed)

data = load_iris()
idx = np.random.permutation(150)
X = data.data[idx]
y = data.target[idx]

from sklearn.ensemble import RandomForestClassifier
from sklearn.svm import SVC
from mlens.ensemble import SequentialEnsemble

ensemble = SequentialEnsemble()
ensemble.add('blend', [SVC(), RandomForestClassifier(random_state=seed)])
ensemble.add('stack', [SVC(), RandomForestClassifier(random_state=seed)])
ensemble.add_meta(SVC())

preds = ensemble.fit(X[:75], y[:75]).predict(X[75:])
f1_score(preds, y[75:], average='micro')
