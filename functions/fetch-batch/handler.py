"""fetch-batch: store the Data API's current batch for our group in MinIO.

A thin adapter (the work is in shared/collect.py). Invoked by the cron trigger (POST, no
body) or by hand (POST or GET); a body, if any, must be JSON and is otherwise ignored.
200: stored, already stored, or `complete: true`; 400: a body that is not JSON; 405:
another method; 502: the Data API failed or sent bad data; 503: MinIO is unreachable.
"""

from shared.collect import fetch_batch
from shared.errors import PipelineError
from shared.http import error_response, json_response, parse_json, require_method
from shared.settings import load_settings

MAX_BODY_BYTES = 64 * 1024


def handle(event, context):
    try:
        require_method(event.method, ("POST", "GET"), "fetch-batch")
        if event.body:
            parse_json(event.body, max_bytes=MAX_BODY_BYTES)
        summary = fetch_batch(load_settings())
    except PipelineError as exc:
        return error_response(exc)
    return json_response(200, summary)
