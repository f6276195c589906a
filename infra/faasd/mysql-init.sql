-- MLflow's user store (basic-auth app), beside the tracking database the image creates
CREATE DATABASE IF NOT EXISTS mlflow_auth;
GRANT ALL ON mlflow_auth.* TO 'mlflow'@'%';
