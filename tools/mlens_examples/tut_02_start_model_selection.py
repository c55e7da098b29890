# tutorial docs/source/examples/start_tutorial.py (flennerhag/mlens), "Model selection guide"
import sys
import numpy as np
from sklearn.metrics import accuracy_score
from sklearn.datasets import load_iris

seed = 2017
np.random.seed(seed)

data = load_iris()
idx = np.random.permutation(150)
X = data.data[idx]
y = data.target[idx]

from mlens.metrics import make_scorer
accuracy_scorer = make_scorer(accuracy_score, greater_is_better=True)

from mlens.model_selection import Evaluator
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from scipy.stats import randint

ests = [('gnb', GaussianNB()), ('knn', KNeighborsClassifier())]
pars = {'n_neighbors': randint(2, 20)}
params = {'knn': pars}

evaluator = Evaluator(accuracy_scorer, cv=10, random_state=seed, verbose=1)
evaluator.fit(X, y, ests, params, n_iter=10)
print("Score comparison with best params founds:\n\n%r" % evaluator.results)

from mlens.preprocessing import Subset
from sklearn.preprocessing import StandardScaler

preprocess_cases = {'none': [],
                    'sc': [StandardScaler()],
                    'sub': [Subset([0, 1])]
                    }
evaluator.fit(X, y, preprocessing=preprocess_cases)
evaluator.fit(X, y, ests, params, n_iter=10)
print("Comparison across preprocessing pipelines:\n\n%r" % evaluator.results)

pars_1 = {'n_neighbors': randint(20, 30)}
pars_2 = {'n_neighbors': randint(2, 10)}
params = {('sc', 'knn'): pars_1,
          ('none', 'knn'): pars_2,
          ('sub', 'knn'): pars_2}
ests_1 = [('gnb', GaussianNB()), ('knn', KNeighborsClassifier())]
ests_2 = [('knn', KNeighborsClassifier())]
estimators = {'sc': ests_1,
              'none': ests_2,
              'sub': ests_1}
evaluator.fit(X, y, estimators, params, n_iter=10)
print("Comparison with different parameter dists:\\nn%r" % evaluator.results)
