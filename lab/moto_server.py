"""`moto_server` with one known moto defect mended: ECR's GetAuthorizationToken answers `expiresAt` as
2015-01-01, whatever the date (moto/ecr/responses.py). The proxy rightly refuses to bind a registry token
that has already expired (ARCHITECTURE.md §5), so with moto as shipped the real login flow, `aws ecr
get-login-password` then `docker login` with the token, could never be exercised. Here the token expires
12 hours after it is issued, as ECR's do; everything else is moto's own.

Run as `python -m lab.moto_server ARGS...` with moto_server's arguments.
"""

import sys
import time

from moto.ecr import responses
from moto.server import main

#: How long ECR's authorization tokens are valid (Amazon ECR API Reference, GetAuthorizationToken).
TOKEN_LIFETIME_SECS = 12 * 3600

_moto_get_authorization_token = responses.ECRResponse.get_authorization_token


def _get_authorization_token(self):
    result = _moto_get_authorization_token(self)
    for data in result.result["authorizationData"]:
        data["expiresAt"] = time.time() + TOKEN_LIFETIME_SECS
    return result


responses.ECRResponse.get_authorization_token = _get_authorization_token

if __name__ == "__main__":
    main(sys.argv[1:])
