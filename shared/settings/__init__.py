"""Every setting the project reads, with its default, validated by one function (`core.read`).

One module per section: `functions` (the pipeline's functions; its names are re-exported
here), `gateway`, `stack`, `data_api` (the Data API stand-in) and `ui`.
"""

from shared.settings.functions import (
    DEFAULT_MODEL_ALIAS,
    DEFAULT_SECRETS_DIR,
    MINIO_USERS,
    MLFLOW_USERS,
    QUALITY_PREFIX,
    ROLES,
    TRAINING_STATE_PREFIX,
    Settings,
    load_settings,
    read_secret,
)

__all__ = [
    "DEFAULT_MODEL_ALIAS", "DEFAULT_SECRETS_DIR", "MINIO_USERS", "MLFLOW_USERS", "QUALITY_PREFIX", "ROLES",
    "TRAINING_STATE_PREFIX", "Settings", "load_settings", "read_secret",
]
