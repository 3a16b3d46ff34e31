"""`moto_server` with one known moto defect mended: ECR's GetAuthorizationToken answers `expiresAt` as
2015-01-01, whatever the date (moto/ecr/responses.py). The proxy rightly refuses to bind a registry token
that has already expired (ARCHITECTURE.md §5), so with moto as shipped the real login flow, `aws ecr
get-login-password` then `docker login` with the token, could never be exercised. Here the token expires
12 hours after it is issued, as ECR's do; everything else is moto's own.

Run as `python -m lab.moto_server ARGS...` with moto_server's arguments.
"""

import json
import os
import re
import sys
import time

from moto.ecr import models, responses
from moto.server import main

#: How long ECR's authorization tokens are valid (Amazon ECR API Reference, GetAuthorizationToken).
TOKEN_LIFETIME_SECS = 12 * 3600

_moto_get_authorization_token = responses.ECRResponse.get_authorization_token


#: Access key ids whose tokens the lab wants already expired (`LAB_EXPIRED_TOKEN_KEYS`, comma-separated):
#: how a test gets a token past its expiry without waiting 12 hours.
EXPIRED_FOR = {k for k in os.environ.get("LAB_EXPIRED_TOKEN_KEYS", "").split(",") if k}


def _key_id(headers) -> str:
    match = re.search(r"Credential=([A-Z0-9]+)/", headers.get("Authorization", ""))
    return match.group(1) if match else ""


def _get_authorization_token(self):
    result = _moto_get_authorization_token(self)
    lifetime = -60 if _key_id(self.headers) in EXPIRED_FOR else TOKEN_LIFETIME_SECS
    for data in result.result["authorizationData"]:
        data["expiresAt"] = time.time() + lifetime
    return result


responses.ECRResponse.get_authorization_token = _get_authorization_token


def _artifact_media_type(image) -> str | None:
    """A second mended moto gap: ECR's DescribeImages gives each image's `artifactMediaType` (its config
    blob's media type, Amazon ECR API Reference, ImageDetail); moto leaves it out."""
    try:
        return json.loads(image.image_manifest)["config"]["mediaType"]
    except (KeyError, TypeError, ValueError):
        return None


models.Image.artifact_media_type = property(_artifact_media_type)

if __name__ == "__main__":
    main(sys.argv[1:])
