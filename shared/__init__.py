"""Code the functions, the UI and the infrastructure share: settings, storage, schema, MLflow."""
