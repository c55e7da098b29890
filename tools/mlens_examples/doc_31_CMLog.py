# docstring of mlens.utils.utils.CMLog (mlens 0.2.3), example 1
from time import sleep
from mlens.utils.utils import CMLog
cm = CMLog(verbose=True)
cm.monitor(2, 0.5)
_ = [i for i in range(10000000)]

# Collecting before completion triggers a message but no error
cm._collect()

sleep(2)
cm._collect()
print('CPU usage:')
cm.cpu
