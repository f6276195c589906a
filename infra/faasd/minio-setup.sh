#!/usr/bin/env bash
# Buckets and the batch bucket's event subscription on faasd's MinIO (run after secrets.sh
# and a faasd restart). Needs MinIO's client `mc`. Idempotent.
set -euo pipefail
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
