"""Evaluates IAM requests against a role's real policies with an IAM policy evaluator:
principalmapper's local policy simulation (NCC Group's Principal Mapper, pinned in
ci/python/iam-requirements.txt), which implements AWS's evaluation logic for identity
policies: explicit Deny wins, then any matching Allow; Action/NotAction,
Resource/NotResource with wildcards, and the Condition operators (String*, Arn*, Bool,
…IfExists, ForAnyValue/ForAllValues) against the request context given.

Why this and not the alternatives (tests/iam_policy_moto.rs uses it):
- moto's own enforcement (INITIAL_NO_AUTH_ACTION_COUNT) authorizes every non-S3 request
  against the resource "*" and treats a failed condition as an explicit deny, so any
  resource-scoped statement reads as denied: it cannot tell this stack from another.
- moto 5.2.1 implements neither SimulatePrincipalPolicy nor SimulateCustomPolicy.
- IAM's own simulator needs a real AWS account, which tests never reach.

Input (stdin, JSON): {"role_arn": ..., "policy": <policy document>, "requests":
[{"action": ..., "resource": ..., "context": {key: value or [values]}}]}.
Output (stdout, JSON): one boolean per request, true when allowed.
"""

import collections
import collections.abc
import json
import sys

# principalmapper 1.1.5 (its last release) imports Mapping/MutableMapping from
# `collections`, which Python 3.10 removed; they live in `collections.abc`.
collections.Mapping = collections.abc.Mapping
collections.MutableMapping = collections.abc.MutableMapping

from principalmapper.common import Node, Policy
from principalmapper.querying.query_interface import local_check_authorization_full


def main():
    job = json.load(sys.stdin)
    role_arn = job["role_arn"]
    policy = Policy(role_arn, "slipway", job["policy"])
    node = Node(
        role_arn,
        "AROAEXAMPLE",
        [policy],
        [],
        {"Version": "2012-10-17", "Statement": []},
        None,
        0,
        False,
        False,
        None,
        False,
        {},
    )
    results = []
    for request in job["requests"]:
        results.append(
            local_check_authorization_full(
                node, request["action"], request["resource"], request.get("context", {})
            )
        )
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
