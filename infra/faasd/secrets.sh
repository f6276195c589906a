#!/usr/bin/env bash
# Create the pipeline's credentials on a faasd host: run as root from the project folder,
# after faasd is installed and `faas-cli login` works. Idempotent: existing values stay.
#
#  - compose services (MariaDB, MinIO, MLflow) read files under /var/lib/faasd/secrets
#  - functions read OpenFaaS secrets (/var/openfaas/secrets/<name>), made with faas-cli
set -euo pipefail
FAASD=${FAASD_DIR:-/var/lib/faasd}
SECRETS=$FAASD/secrets
# the secrets stack.yml's functions declare; tests/test_faasd_kit.py keeps this in step
FUNCTION_SECRETS="minio-fetch-batch-secret-key mlflow-fetch-batch-password minio-train-model-secret-key mlflow-train-model-password minio-webhook-token basic-auth-user basic-auth-password mlflow-predict-password"
# each role's own MinIO and MLflow user (shared/settings/functions.py: MINIO_USERS, MLFLOW_USERS)
ROLE_SECRETS="minio-fetch-batch-secret-key minio-train-model-secret-key minio-web-ui-secret-key minio-mlflow-secret-key mlflow-fetch-batch-password mlflow-train-model-password mlflow-predict-password mlflow-web-ui-password"

generate() { head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32; }

keep_or_write() {  # keep_or_write NAME VALUE
  local path=$SECRETS/$1
  if [ ! -s "$path" ]; then
    umask 077
    printf '%s' "$2" > "$path"
  fi
}

mkdir -p "$SECRETS" "$FAASD/mysql" "$FAASD/minio/data" "$FAASD/mlflow"
keep_or_write minio-access-key pipeline
keep_or_write minio-secret-key "$(generate)"
keep_or_write mysql-password "$(generate)"
keep_or_write minio-webhook-token "$(generate)"
keep_or_write mlflow-flask-secret-key "$(generate)"
for name in $ROLE_SECRETS; do
  keep_or_write "$name" "$(generate)"
done
# basic-auth-user and basic-auth-password: faasd generated them when it was installed
for name in basic-auth-user basic-auth-password; do
  [ -s "$SECRETS/$name" ] || { echo "error: $SECRETS/$name is missing: install faasd first"; exit 1; }
done

# MinIO reads its root credentials and the webhook token from one env file
umask 077
cat > "$FAASD/minio/config.env" <<ENV
MINIO_ROOT_USER=$(cat "$SECRETS/minio-access-key")
MINIO_ROOT_PASSWORD=$(cat "$SECRETS/minio-secret-key")
MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_PIPELINE=$(cat "$SECRETS/minio-webhook-token")
ENV
# MLflow's basic-auth app: every user reads, the admin is faasd's gateway admin, users in SQLite
cat > "$FAASD/mlflow/basic_auth.ini" <<INI
[mlflow]
default_permission = READ
database_uri = sqlite:////etc/mlflow/users.db
admin_username = $(cat "$SECRETS/basic-auth-user")
admin_password = $(cat "$SECRETS/basic-auth-password")
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
auth_cache_ttl_seconds = 60
INI
chown 999:999 "$FAASD/mysql"
chown -R 1000:1000 "$FAASD/minio"

for name in $FUNCTION_SECRETS; do
  faas-cli secret create "$name" --from-file "$SECRETS/$name" \
    || faas-cli secret update "$name" --from-file "$SECRETS/$name"
done
echo "secrets ready in $SECRETS and in faasd's provider (faas-cli secret list)"
