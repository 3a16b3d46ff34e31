"""The aws CLI through the proxy to moto's ECR API (acceptance story a): the CLI's own stderr must carry the
AWS denial text (ARCHITECTURE.md §4; AWS docs "Troubleshoot access denied error messages" for the wording), and
a denied call must not reach moto.
"""

from lab import clients
from lab.world import DEV

# botocore prints "(reached max retries: 0)" between the two halves when retries are off, as here.
DELETE_ERROR = "An error occurred (AccessDeniedException) when calling the DeleteRepository operation"
DELETE_DENIED = (
    f": User: {DEV.arn} is not authorized to perform: ecr:DeleteRepository on resource: "
    "arn:aws:ecr:us-east-1:123456789123:repository/base-image3 with an explicit deny in a VPC endpoint policy"
)


def test_get_authorization_token_allowed(lab):
    result = clients.aws(lab.proxy, DEV, ["ecr", "get-authorization-token"])
    assert result.returncode == 0, clients.text(result)
    assert b'"authorizationToken"' in result.stdout


def test_describe_images_allowed(lab):
    result = clients.aws(lab.proxy, DEV, ["ecr", "describe-images", "--repository-name", "app"])
    assert result.returncode == 0, clients.text(result)
    assert b'"imageDetails"' in result.stdout


def test_delete_repository_denied_by_explicit_deny_and_repository_survives(lab):
    result = clients.aws(lab.proxy, DEV, ["ecr", "delete-repository", "--repository-name", "base-image3"])
    assert result.returncode != 0
    stderr = result.stderr.decode(errors="replace")
    assert DELETE_ERROR in stderr and DELETE_DENIED in stderr, stderr
    names = [r["repositoryName"] for r in lab.moto.client("ecr").describe_repositories()["repositories"]]
    assert "base-image3" in names
