"""MinIO users for the pipeline's roles, each with a policy of its own instead of the root account.

    fetch-batch   reads and writes batch objects (`BATCH_PREFIX`) and their quality reports
                  (`quality/`) in the batch bucket
    train-model   reads batch objects; reads and writes quality reports (it computes a missing
                  one); reads, writes and deletes its lock and marker (`training/`)
    web-ui        reads batch objects and quality reports (the Pipeline page)
    mlflow        everything in the artifact bucket, nothing else (predict and the UI get
                  artifacts through MLflow's proxy, with their MLflow users)

`make up` applies them with MinIO's admin API (`apply`); on faasd, `minio-setup.sh` hands
`python3 -m infra.minio_access policy ROLE` (standard library only) to `mc admin policy create`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

from shared.settings import MINIO_USERS, QUALITY_PREFIX, TRAINING_STATE_PREFIX, Settings, load_settings


def policy_name(role: str) -> str:
    return f"pipeline-{role}"


def _allow(actions: list[str], *resources: str) -> dict:
    return {"Effect": "Allow", "Action": actions, "Resource": list(resources)}


def policies(settings: Settings) -> dict[str, dict]:
    """Role -> its IAM policy document."""
    batches = f"arn:aws:s3:::{settings.batch_bucket}"
    artifacts = f"arn:aws:s3:::{settings.artifact_bucket}"
    # listing (and HEAD on the bucket, which takes no prefix) needs the bucket itself
    see_bucket = _allow(["s3:ListBucket", "s3:GetBucketLocation"], batches)
    batch_objects = f"{batches}/{settings.batch_prefix}*"
    reports = f"{batches}/{QUALITY_PREFIX}*"
    statements = {
        "fetch-batch": [see_bucket, _allow(["s3:GetObject", "s3:PutObject"], batch_objects, reports)],
        "train-model": [
            see_bucket, _allow(["s3:GetObject"], batch_objects), _allow(["s3:GetObject", "s3:PutObject"], reports),
            _allow(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], f"{batches}/{TRAINING_STATE_PREFIX}*"),
        ],
        "web-ui": [see_bucket, _allow(["s3:GetObject"], batch_objects, reports)],
        "mlflow": [_allow(["s3:*"], artifacts, f"{artifacts}/*")],
    }
    return {role: {"Version": "2012-10-17", "Statement": found} for role, found in statements.items()}


def apply(settings: Settings, secret: Callable[[str], str]) -> None:
    """Create or update every role's policy and user (idempotent), with the root credentials in `settings`."""
    from shared import storage  # imports minio, which `main` does without (faasd runs it on the standard library)

    admin = storage.admin(settings)
    for role, policy in policies(settings).items():
        admin.policy_add(policy_name(role), policy=policy)
        admin.user_add(role, secret(MINIO_USERS[role]))
        admin.policy_set(policy_name(role), user=role)


def main(argv: list[str]) -> int:
    known = policies(load_settings())
    if len(argv) != 2 or argv[0] != "policy" or argv[1] not in known:
        print(f"usage: python3 -m infra.minio_access policy {{{','.join(known)}}}", file=sys.stderr)
        return 2
    print(json.dumps(known[argv[1]], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
