"""Prints infra/template.yaml as CloudFormation deploys it, as JSON: the
AWS::LanguageExtensions transform (Fn::ForEach over the queues) with the SAM
CLI's processor, then the SAM transform with the SAM translator.

    python infra/scripts/expand.py TEMPLATE [PARAMS_JSON]

PARAMS_JSON overrides parameter defaults ({"Queues": "default,emails"}),
and "AWS::StackName" the stack name. Pseudo parameters: us-east-1, account
123456789012, stack "hangar".

As CloudFormation does before it creates anything, the parameter values
are checked against their constraints (AllowedPattern, for a list each
element; AllowedValues; MinValue and MaxValue; MinLength and MaxLength),
and the expanded template's logical ids must be letters and digits: a
value or a queue name CloudFormation would refuse fails here, exit 1, with
CloudFormation's kind of message on stderr.
"""

import json
import os
import re
import sys

from samcli.lib.cfn_language_extensions.api import process_template
from samcli.lib.cfn_language_extensions.exceptions import InvalidTemplateException
from samcli.lib.cfn_language_extensions.models import PseudoParameterValues
from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform


class NoManagedPolicies:
    """The template names no AWS managed policy by short name."""

    def load(self):
        return {}


class Refused(Exception):
    """What CloudFormation would refuse the stack for."""


def check_parameter(name, spec, value):
    """A parameter value against its constraints, as CloudFormation checks
    them (a list's pattern and lengths apply to each element)."""
    reason = spec.get("ConstraintDescription")
    values = value if isinstance(value, list) else [value]
    for v in values:
        text = str(v)
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, text):
            raise Refused(f"Parameter '{name}' must match pattern {pattern}" + (f" ({reason})" if reason else "") + f": {text!r}")
        if "MinLength" in spec and len(text) < int(spec["MinLength"]):
            raise Refused(f"Parameter '{name}' must contain at least {spec['MinLength']} characters: {text!r}")
        if "MaxLength" in spec and len(text) > int(spec["MaxLength"]):
            raise Refused(f"Parameter '{name}' must contain at most {spec['MaxLength']} characters: {text!r}")
    if "AllowedValues" in spec and str(value) not in [str(a) for a in spec["AllowedValues"]]:
        raise Refused(f"Parameter '{name}' must be one of AllowedValues: {value!r}")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise Refused(f"Parameter '{name}' must be a number: {value!r}") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise Refused(f"Parameter '{name}' must be a number not less than {spec['MinValue']}: {value!r}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise Refused(f"Parameter '{name}' must be a number not greater than {spec['MaxValue']}: {value!r}")


LOGICAL_ID = re.compile(r"[A-Za-z0-9]{1,255}")


def check_logical_ids(template):
    """CloudFormation's rule for the ids of resources and outputs."""
    for section in ("Resources", "Outputs"):
        for key in template.get(section, {}):
            if not LOGICAL_ID.fullmatch(key):
                raise Refused(f"Template format error: {section} name {key!r} is non alphanumeric")


def expand(template, overrides):
    stack = overrides.get("AWS::StackName", "hangar")
    params = {}
    for name, spec in template.get("Parameters", {}).items():
        value = overrides.get(name, spec.get("Default"))
        if value is None:
            continue
        if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
            # CloudFormation keeps empty elements ("a,,b" is three names).
            value = [v.strip() for v in value.split(",")]
        check_parameter(name, spec, value)
        params[name] = value
    pseudo = PseudoParameterValues(
        region="us-east-1", account_id="123456789012", stack_name=stack
    )
    try:
        expanded = process_template(template, parameter_values=params, pseudo_parameters=pseudo)
    except InvalidTemplateException as e:
        # Such as two queues of one name: their resources' ids conflict.
        raise Refused(f"Template format error: {e}") from None
    check_logical_ids(expanded)
    transforms = expanded.get("Transform", [])
    if isinstance(transforms, str):
        transforms = [transforms]
    expanded["Transform"] = [t for t in transforms if t != "AWS::LanguageExtensions"]
    # As `sam package` does: code uploaded, the local path replaced by its S3 URI.
    for resource in expanded.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://artifacts/hangar.zip"
    sam_params = {k: ",".join(v) if isinstance(v, list) else v for k, v in params.items()}
    sam_params.update({"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::StackName": stack})
    return transform(expanded, sam_params, NoManagedPolicies())


def main():
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(sys.argv[1], encoding="utf-8") as f:
        template = yaml_parse(f.read())
    overrides = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    try:
        expanded = expand(template, overrides)
    except Refused as e:
        print(e, file=sys.stderr)
        sys.exit(1)
    print(json.dumps(expanded, indent=1, default=str))


if __name__ == "__main__":
    main()
