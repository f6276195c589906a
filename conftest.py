"""Loaded by pytest before any test or benchmark module (and so before `import mlflow`).

`import mlflow` starts a telemetry client that would call an address outside this
machine; the stack's processes get the same switch from `shared.settings.stack`'s `service_env`.
"""

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
