"""The stand-in's liveness probe for the stack: GET / answers 200 with JSON."""

from __future__ import annotations

import requests

from shared.errors import ServiceUnavailable


def probe(url: str, timeout: float = 5) -> None:
    try:
        response = requests.get(url.rstrip("/") + "/", timeout=timeout)
        response.json()
    except requests.RequestException as exc:
        raise ServiceUnavailable(f"Data API stand-in at {url} is not answering ({type(exc).__name__})") from None
    except ValueError:
        raise ServiceUnavailable(f"Data API stand-in at {url} answered {response.status_code} without JSON") from None
    if response.status_code != 200:
        raise ServiceUnavailable(f"Data API stand-in at {url} answered {response.status_code}")
