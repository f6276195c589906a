"""Reset a group for a rerun: `python -m infra.data_api.reset --group 6 [--keep-batches]`.

Sends the Data API at DATA_API_URL its own `/restart_data_generation` (or, when the
stand-in is not running, clears its state file under STATE_DIR), then deletes the
group's stored batches from the batch bucket.
"""

from __future__ import annotations

import argparse
import os
import sys

import requests

from infra.data_api.state import MAX_BATCHES, BatchClock
from infra.running import running
from shared.batches import delete_batches
from shared.errors import PipelineError
from shared.settings import Settings, load_settings
from shared.settings.data_api import load_config
from shared.settings.stack import load_stack_config


def restart_api(settings: Settings, group: int) -> str:
    url = f"{settings.data_api_url}/restart_data_generation"
    try:
        response = requests.get(url, params={"group_number": group}, timeout=settings.http_timeout)
    except requests.ConnectionError:
        config = load_config()
        BatchClock(config.state_file, config.batch_period, MAX_BATCHES).restart(group)
        return f"Data API not running; cleared group {group} in {config.state_file}"
    if response.status_code != 200:
        raise PipelineError(f"{url} answered {response.status_code}: {response.text[:200]}")
    return f"Data API at {settings.data_api_url}: group {group} restarted"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.data_api.reset", description=__doc__.splitlines()[0])
    parser.add_argument("--group", type=int, help="group number (default: GROUP_NUMBER)")
    parser.add_argument("--keep-batches", action="store_true", help="leave the stored batches alone")
    args = parser.parse_args(argv)
    try:
        found = running()  # make up's stack or the demo's, whichever runs
        if found:
            print(f"on {found[0].title}")
            settings = found[0].settings()
        else:  # the local stack's addresses and secrets dir, unless the environment says otherwise
            settings = load_settings({**load_stack_config().service_env(), **os.environ})
        group = args.group or settings.group_number
        print(restart_api(settings, group))
        if not args.keep_batches:
            removed = delete_batches(settings, group)
            print(f"removed {removed} stored batches of group {group} from bucket {settings.batch_bucket}")
    except PipelineError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
