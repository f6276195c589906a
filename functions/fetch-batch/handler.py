"""fetch-batch: store the Data API's current batch for our group in MinIO.

A thin adapter (the work is in shared/collect.py). Invoked by the cron trigger; the
request itself carries nothing. 200: stored, already stored, or `complete: true`;
502: the Data API failed or sent bad data; 503: MinIO is unreachable.
"""

from shared.collect import fetch_batch
from shared.errors import PipelineError, error_response
from shared.settings import load_settings

JSON = {"Content-Type": "application/json"}


def handle(event, context):
    try:
        summary = fetch_batch(load_settings())
    except PipelineError as exc:
        return error_response(exc)
    return {"statusCode": 200, "body": summary, "headers": JSON}
