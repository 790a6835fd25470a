"""Prints infra/template.yaml as CloudFormation deploys it, as JSON: the
AWS::LanguageExtensions transform (Fn::ForEach over the queues) with the SAM
CLI's processor, then the SAM transform with the SAM translator.

    python infra/scripts/expand.py TEMPLATE [PARAMS_JSON]

PARAMS_JSON overrides parameter defaults ({"Queues": "default,emails"}).
Pseudo parameters: us-east-1, account 123456789012, stack "hangar".
"""

import json
import os
import sys

from samcli.lib.cfn_language_extensions.api import process_template
from samcli.lib.cfn_language_extensions.models import PseudoParameterValues
from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform


class NoManagedPolicies:
    """The template names no AWS managed policy by short name."""

    def load(self):
        return {}


def main():
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(sys.argv[1], encoding="utf-8") as f:
        template = yaml_parse(f.read())
    overrides = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    params = {}
    for name, spec in template.get("Parameters", {}).items():
        value = overrides.get(name, spec.get("Default"))
        if value is None:
            continue
        if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        params[name] = value
    pseudo = PseudoParameterValues(
        region="us-east-1", account_id="123456789012", stack_name="hangar"
    )
    expanded = process_template(template, parameter_values=params, pseudo_parameters=pseudo)
    transforms = expanded.get("Transform", [])
    if isinstance(transforms, str):
        transforms = [transforms]
    expanded["Transform"] = [t for t in transforms if t != "AWS::LanguageExtensions"]
    # As `sam package` does: code uploaded, the local path replaced by its S3 URI.
    for resource in expanded.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://artifacts/hangar.zip"
    sam_params = {k: ",".join(v) if isinstance(v, list) else v for k, v in params.items()}
    sam_params.update({"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::StackName": "hangar"})
    print(json.dumps(transform(expanded, sam_params, NoManagedPolicies()), indent=1, default=str))


if __name__ == "__main__":
    main()
