"""Writes every IAM policy document of `provision synth` templates as a plain policy file
for parliament, which reads policies, not templates.

CloudFormation intrinsics (Ref, Fn::GetAtt, Fn::Sub, Fn::Join) are replaced by ARNs of the
shape AWS gives the referenced resource type, so parliament's resource/action matching
judges what the policy will really say. Usage:

    synth_policies.py OUT_DIR TEMPLATE.json...

Writes OUT_DIR/<template>/<Role>.<policy>.json (inline policies) and prints the count.
"""

import json
import re
import sys
from pathlib import Path

REGION = "eu-west-1"
ACCOUNT = "111122223333"
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}


class Resolver:
    def __init__(self, template):
        self.resources = template["Resources"]

    def name(self, logical, field):
        value = self.resources[logical]["Properties"].get(field)
        return value if isinstance(value, str) else logical.lower()

    def ref(self, logical):
        if logical in PSEUDO:
            return PSEUDO[logical]
        kind = self.resources[logical]["Type"]
        elb = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}"
        if kind == "AWS::ECR::Repository":
            return self.name(logical, "RepositoryName")
        if kind == "AWS::Logs::LogGroup":
            return self.name(logical, "LogGroupName")
        if kind == "AWS::IAM::Role":
            return self.name(logical, "RoleName")
        if kind == "AWS::ECS::Cluster":
            return self.name(logical, "ClusterName")
        if kind == "AWS::SecretsManager::Secret":
            return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{self.name(logical, 'Name')}-AbCdEf"
        if kind == "AWS::ElasticLoadBalancingV2::TargetGroup":
            return f"{elb}:targetgroup/{self.name(logical, 'Name')}/0123456789abcdef"
        if kind == "AWS::ElasticLoadBalancingV2::Listener":
            return f"{elb}:listener/app/alb/0123456789abcdef/fedcba9876543210"
        if kind == "AWS::ElasticLoadBalancingV2::ListenerRule":
            return f"{elb}:listener-rule/app/alb/0123456789abcdef/fedcba9876543210/0011223344556677"
        if kind == "AWS::ECS::Service":
            return f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/cluster/{self.name(logical, 'ServiceName')}"
        if kind == "AWS::IAM::OIDCProvider":
            host = self.name(logical, "Url").removeprefix("https://")
            return f"arn:aws:iam::{ACCOUNT}:oidc-provider/{host}"
        raise SystemExit(f"synth_policies.py: no ARN shape for Ref to {kind} ({logical}); add one")

    def get_att(self, logical, attribute):
        kind = self.resources[logical]["Type"]
        if attribute == "Arn" and kind == "AWS::ECR::Repository":
            return f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{self.ref(logical)}"
        if attribute == "Arn" and kind == "AWS::IAM::Role":
            path = self.resources[logical]["Properties"].get("Path", "/")
            return f"arn:aws:iam::{ACCOUNT}:role{path}{self.ref(logical)}"
        if attribute == "Arn" and kind == "AWS::ECS::Cluster":
            return f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{self.ref(logical)}"
        if attribute == "MasterUserSecret.SecretArn" and kind == "AWS::RDS::DBInstance":
            # RDS names the secret it manages `rds!db-<uuid>`.
            return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!db-0123abcd-4567-89ef-0123-456789abcdef-AbCdEf"
        raise SystemExit(f"synth_policies.py: no ARN shape for {kind}.{attribute} ({logical}); add one")

    def sub(self, text):
        def variable(match):
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in PSEUDO:
                return PSEUDO[name]
            if "." in name:
                logical, attribute = name.split(".", 1)
                return self.get_att(logical, attribute)
            return self.ref(name)

        return re.sub(r"\$\{([^}]*)\}", variable, text)

    def resolve(self, value):
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if list(value) == ["Ref"]:
            return self.ref(value["Ref"])
        if list(value) == ["Fn::GetAtt"]:
            return self.get_att(*value["Fn::GetAtt"])
        if list(value) == ["Fn::Sub"]:
            return self.sub(value["Fn::Sub"])
        if list(value) == ["Fn::Join"]:
            separator, parts = value["Fn::Join"]
            return separator.join(self.resolve(parts))
        return {k: self.resolve(v) for k, v in value.items()}


def main(out_dir, templates):
    count = 0
    for path in templates:
        template = json.loads(Path(path).read_text())
        resolver = Resolver(template)
        target = Path(out_dir) / Path(path).stem
        target.mkdir(parents=True, exist_ok=True)
        for logical, resource in template["Resources"].items():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            for policy in resource["Properties"].get("Policies", []):
                document = resolver.resolve(policy["PolicyDocument"])
                name = f"{logical}.{policy['PolicyName']}.json"
                (target / name).write_text(json.dumps(document, indent=2))
                count += 1
    print(count)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
