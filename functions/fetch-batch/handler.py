"""fetch-batch: store the Data API's current batch for our group in MinIO.

A thin adapter (the work is in shared/collect.py). Invoked by the cron trigger (POST, no
body) or by hand (POST or GET); a body, if any, must be JSON and is otherwise ignored.
200: stored, already stored, or `complete: true`; 400: a body that is not JSON; 405:
another method; 502: the Data API failed or sent bad data; 503: MinIO is unreachable.
"""

from shared.collect import fetch_batch
from shared.errors import MethodNotAllowed, PipelineError, error_response
from shared.http import parse_json
from shared.settings import load_settings

JSON = {"Content-Type": "application/json"}
MAX_BODY_BYTES = 64 * 1024


def handle(event, context):
    try:
        if event.method not in ("POST", "GET"):
            raise MethodNotAllowed(f"method: fetch-batch takes POST or GET, not {event.method}",
                                   details=[{"field": "method", "error": f"{event.method} not allowed"}])
        if event.body:
            parse_json(event.body, max_bytes=MAX_BODY_BYTES)
        summary = fetch_batch(load_settings())
    except PipelineError as exc:
        return error_response(exc)
    return {"statusCode": 200, "body": summary, "headers": JSON}
