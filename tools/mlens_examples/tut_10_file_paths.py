# tutorial docs/ensemble_tutorial.rst (flennerhag/mlens), "Passing file paths as data input" (build_ensemble from "Probabilistic ensemble learning")
import numpy as np
from sklearn.datasets import load_iris
from sklearn.metrics import f1_score

seed = 2017
np.random.seed(seed)

data = load_iris()
idx = np.random.permutation(150)
X = data.data[idx]
y = data.target[idx]

from mlens.ensemble import BlendEnsemble
from sklearn.linear_model import LogisticRegression
from sklearn.ensemble import RandomForestClassifier
from sklearn.svm import SVC

def build_ensemble(proba, **kwargs):
    """Return an ensemble."""
    estimators = [RandomForestClassifier(random_state=seed),
                  SVC(probability=proba)]

    ensemble = BlendEnsemble(**kwargs)
    ensemble.add(estimators, proba=proba)   # Specify 'proba' here
    ensemble.add_meta(LogisticRegression())

    return ensemble

import os
import gc
import tempfile

temp = tempfile.TemporaryDirectory(dir=os.getcwd())
fx = os.path.join(temp.name, 'X.csv')
fy = os.path.join(temp.name, 'y.csv')

np.savetxt(fx, X)
np.savetxt(fy, y)

ensemble = build_ensemble(False, array_check=0)
ensemble.fit(fx, fy)
preds = ensemble.predict(fx)
preds[:10]

try:
    temp.cleanup()
    del temp
except OSError:
    pass
