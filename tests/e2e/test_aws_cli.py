"""The aws CLI through the proxy to moto's ECR API (acceptance story a): the CLI's own stderr must carry the
AWS denial text (ARCHITECTURE.md §4; AWS docs "Troubleshoot access denied error messages" for the wording), and
a denied call must not reach moto.
"""

from lab import clients
from lab.standins import ACCOUNT
from lab.world import DEV, Persona

#: An AKIA key id whose encoded account is the lab's (moto's) account; no `[[principal]]` names it.
NEWCOMER_KEY = "AKIABZPUZDKBVIISEM2E"

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


def test_a_newcomers_unconfigured_key_is_forwarded_on_the_default_policies(lab):
    """AWS default endpoint policies and a key id no `[[principal]]` names: its account is decoded from the
    key id (AWS STS API Reference, GetAccessKeyInfo), so describe-repositories without `--registry-id` acts
    on that account's registry and moto answers, as AWS would."""
    newcomer = Persona("newcomer", f"arn:aws:iam::{ACCOUNT}:user/newcomer", None, NEWCOMER_KEY, "newcomer")
    proxy = lab.start_proxy("proxy-defaults", ecr_policy=None, s3_policy=None)
    result = clients.aws(proxy, newcomer, ["ecr", "describe-repositories"])
    assert result.returncode == 0, clients.text(result)
    assert b'"repositoryName": "app"' in result.stdout, result.stdout
    decided = [r for r in proxy.audit_records() if r.get("eventName") == "DescribeRepositories"]
    assert decided and (decided[-1]["decision"], decided[-1]["upstreamStatus"]) == ("Allow", 200), decided
