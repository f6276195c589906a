#!/usr/bin/env bash
# Buckets, the batch bucket's event subscription, and a MinIO user per role with its own
# policy (infra/minio_access.py) on faasd's MinIO (run from the project folder after
# secrets.sh and a faasd restart). Needs MinIO's client `mc` and python3. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."  # the project folder: python3 -m infra.minio_access
FAASD=${FAASD_DIR:-/var/lib/faasd}
SECRETS=$FAASD/secrets
ENDPOINT=${MINIO_URL:-http://10.62.0.1:9000}
BATCH_BUCKET=${BATCH_BUCKET:-covertype-batches}
BATCH_PREFIX=${BATCH_PREFIX:-batches/}
ARTIFACT_BUCKET=${ARTIFACT_BUCKET:-mlflow-artifacts}

mc alias set pipeline "$ENDPOINT" "$(cat "$SECRETS/minio-access-key")" "$(cat "$SECRETS/minio-secret-key")" >/dev/null
mc mb --ignore-existing "pipeline/$BATCH_BUCKET" "pipeline/$ARTIFACT_BUCKET"
# the PIPELINE webhook target is configured in docker-compose.pipeline.yaml (to the gateway)
if ! mc event list "pipeline/$BATCH_BUCKET" arn:minio:sqs::PIPELINE:webhook | grep -q put; then
  mc event add "pipeline/$BATCH_BUCKET" arn:minio:sqs::PIPELINE:webhook --event put --prefix "$BATCH_PREFIX"
fi
mc event list "pipeline/$BATCH_BUCKET"

# the functions and MLflow never use the root account: one user and policy per role
policy=$(mktemp)
trap 'rm -f "$policy"' EXIT
for role in fetch-batch train-model web-ui mlflow; do
  python3 -m infra.minio_access policy "$role" > "$policy"
  mc admin policy create pipeline "pipeline-$role" "$policy" >/dev/null
  mc admin user add pipeline "$role" "$(cat "$SECRETS/minio-$role-secret-key")" >/dev/null
  mc admin policy attach pipeline "pipeline-$role" --user "$role" >/dev/null 2>&1 || true  # already attached
done
mc admin user list pipeline
