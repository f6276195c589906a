"""train-model: on MinIO's batch events (or an admin's {"force": true}), train once per batch set.

A thin adapter: the work is in shared/retrain.py (who may call, whether to train),
shared/training_lock.py (the lock) and shared/training.py / shared/tracking.py (the
models, MLflow, the registry).
200: waiting k/10, already trained, ignored, or trained (with a summary); 429: in
progress elsewhere (the body names the holder; the gateway's queue retries the call, see
the com.openfaas.retry.* annotations in stack.yml); 400: bad body; 401: neither the
webhook token nor admin basic auth; 403: `force` without the admin's basic auth; 405:
not a POST; 500: the training failed (runs FAILED, champion unchanged, retry later).
"""

from shared.errors import PipelineError
from shared.http import error_response, json_response, require_method
from shared.retrain import allowed_call, handle_call, http_status
from shared.settings import load_settings


def handle(event, context):
    try:
        require_method(event.method, ("POST",), "train-model")
        settings = load_settings()
        result = handle_call(settings, allowed_call(settings, event.headers, event.body))
    except PipelineError as exc:
        return error_response(exc)
    return json_response(http_status(result), result)
