"""predict: score records with the registry's champion (POST), or describe it (GET).

A thin adapter: the work is in shared/predict_service.py.
"""

from shared.predict_service import default_service


def handle(event, context):
    return default_service().handle(event)
