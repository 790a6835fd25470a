//! The SAM template as JSON, and what its policies grant against what the
//! code was seen to call.

use serde_json::Value;

use crate::{run_python, workspace_root};

/// Loads a CloudFormation YAML template as JSON, short-form intrinsics
/// (`!Ref`, `!GetAtt`, `!Sub`) turned into their long forms.
const LOAD_TEMPLATE: &str = r#"
import json, sys, yaml
class Loader(yaml.SafeLoader):
    pass
def intrinsic(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else "Fn::" + suffix: value}
Loader.add_multi_constructor("!", intrinsic)
print(json.dumps(yaml.load(open(sys.argv[1]), Loader=Loader)))
"#;

/// `infra/template.yaml` as JSON.
pub fn template() -> Value {
    let path = workspace_root().join("infra/template.yaml");
    serde_json::from_str(&run_python(LOAD_TEMPLATE, &[path.to_str().unwrap()])).unwrap()
}

/// A resource of the template, which must exist.
pub fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    let r = &t["Resources"][name];
    assert!(r.is_object(), "no resource {name}");
    r
}

/// The actions a function's policy grants on its own resources.
pub fn granted(t: &Value, function: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for policy in resource(t, function)["Properties"]["Policies"]
        .as_array()
        .unwrap()
    {
        for st in policy["Statement"].as_array().unwrap() {
            let actions = match &st["Action"] {
                Value::Array(a) => a.clone(),
                a => vec![a.clone()],
            };
            out.extend(actions.iter().map(|a| a.as_str().unwrap().to_owned()));
        }
    }
    out
}

/// The IAM actions the observed SDK calls need. A transaction needs the
/// actions of the writes in it (Hangar's put one item and update another);
/// a message batch needs `SendMessage`.
pub fn needed(
    calls: &std::collections::BTreeMap<String, usize>,
) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for op in calls.keys() {
        match op.as_str() {
            "TransactWriteItems" => {
                out.insert("dynamodb:PutItem".to_owned());
                out.insert("dynamodb:UpdateItem".to_owned());
            }
            "SendMessageBatch" => {
                out.insert("sqs:SendMessage".to_owned());
            }
            "SendMessage"
            | "GetQueueUrl"
            | "GetQueueAttributes"
            | "ListQueues"
            | "ReceiveMessage"
            | "DeleteMessage"
            | "ChangeMessageVisibility" => {
                out.insert(format!("sqs:{op}"));
            }
            _ => {
                out.insert(format!("dynamodb:{op}"));
            }
        }
    }
    out
}
