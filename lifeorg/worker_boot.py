"""Process start of each Dramatiq worker process: ``lifeorg worker`` runs
``dramatiq lifeorg.worker_boot``, and importing this module is that process starting.
"""

from lifeorg import runtime
from lifeorg.config import load_settings

runtime.start(load_settings(), migrate=True)
