# tutorial docs/ensemble_tutorial.rst (flennerhag/mlens), "Ensemble model selection" (f1 scorer as in the getting-started preliminaries)
import numpy as np
from sklearn.datasets import load_iris
from sklearn.metrics import f1_score

seed = 2017
np.random.seed(seed)

data = load_iris()
idx = np.random.permutation(150)
X = data.data[idx]
y = data.target[idx]

from mlens.metrics import make_scorer
f1 = make_scorer(f1_score, average='micro')

from sklearn.ensemble import RandomForestClassifier
from sklearn.svm import SVC
from mlens.preprocessing import EnsembleTransformer
from mlens.model_selection import Evaluator
from scipy.stats import uniform, randint
from pandas import DataFrame

base_learners = [RandomForestClassifier(random_state=seed),
                 SVC(probability=True)]

proba_transformer = EnsembleTransformer().add('blend', base_learners, proba=True)
class_transformer = EnsembleTransformer().add('blend', base_learners, proba=False)

preprocessing = {'proba': [('layer-1', proba_transformer)],
                 'class': [('layer-1', class_transformer)]}

meta_learners = [SVC(), ('rf', RandomForestClassifier(random_state=2017))]

params = {'svc': {'C': uniform(0, 10)},
          ('class', 'rf'): {'max_depth': randint(2, 10)},
          ('proba', 'rf'): {'max_depth': randint(2, 10),
                            'max_features': uniform(0.5, 0.5)}
          }

evaluator = Evaluator(scorer=f1, random_state=2017, cv=20)
evaluator.fit(X, y, meta_learners, params, preprocessing=preprocessing, n_iter=2)
DataFrame(evaluator.summary)
