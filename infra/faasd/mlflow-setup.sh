#!/usr/bin/env bash
# MLflow's users per role on faasd (run after minio-setup.sh, once MLflow answers), as
# `make up` creates them locally (infra/bootstrap.py bootstrap_mlflow): every user reads;
# train-model also writes runs in the experiment and versions and aliases of the model.
# The admin is faasd's gateway admin (basic-auth-user / basic-auth-password). Idempotent.
set -euo pipefail
FAASD=${FAASD_DIR:-/var/lib/faasd}
SECRETS=$FAASD/secrets
MLFLOW=${MLFLOW_URL:-http://10.62.0.1:5000}
EXPERIMENT=${EXPERIMENT_NAME:-covertype}
MODEL=${MODEL_NAME:-covertype-classifier}
ADMIN="$(cat "$SECRETS/basic-auth-user"):$(cat "$SECRETS/basic-auth-password")"

api() {  # api METHOD PATH [JSON]
  curl -fsS -u "$ADMIN" -X "$1" -H 'Content-Type: application/json' "$MLFLOW/api/$2" ${3:+-d "$3"}
}

for role in fetch-batch train-model predict web-ui; do
  user="{\"username\": \"$role\", \"password\": \"$(cat "$SECRETS/mlflow-$role-password")\"}"
  api POST 2.0/mlflow/users/create "$user" >/dev/null 2>&1 || api PATCH 2.0/mlflow/users/update-password "$user" >/dev/null
done
experiment_id() {
  api GET "2.0/mlflow/experiments/get-by-name?experiment_name=$EXPERIMENT" 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["experiment"]["experiment_id"])'
}
id=$(experiment_id || api POST 2.0/mlflow/experiments/create "{\"name\": \"$EXPERIMENT\"}" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["experiment_id"])')
for grant in "experiment $id" "registered_model $MODEL"; do
  set -- $grant
  grant='{"username": "train-model", "resource_type": "'"$1"'", "resource_id": "'"$2"'", "permission": "EDIT"}'
  # a second run finds the grant made (RESOURCE_ALREADY_EXISTS): anything else stops the script
  out=$(curl -sS -u "$ADMIN" -X POST -H 'Content-Type: application/json' \
    "$MLFLOW/api/3.0/mlflow/users/permissions/grant" -d "$grant" -w '\n%{http_code}')
  case "$out" in *$'\n'200|*RESOURCE_ALREADY_EXISTS*) ;; *) echo "grant $1 $2 failed: $out" >&2; exit 1 ;; esac
done
echo "MLflow users ready: fetch-batch, train-model, predict, web-ui (grants: experiment $id, model $MODEL)"
