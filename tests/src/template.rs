//! The deploy templates (SAM and CDK) as the CloudFormation they deploy,
//! and what their policies grant against what the code was seen to call.

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

/// The two ways to deploy Hangar, each as the plain CloudFormation it
/// deploys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deploy {
    /// `infra/template.yaml`, expanded as CloudFormation expands it.
    Sam,
    /// The CDK app's `cdk synth` output.
    Cdk,
}

impl Deploy {
    /// Both.
    pub const ALL: [Deploy; 2] = [Deploy::Sam, Deploy::Cdk];

    /// The deployed template with its default settings.
    pub fn template(self) -> Value {
        static SAM: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
        static CDK: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
        match self {
            Deploy::Sam => SAM.get_or_init(|| sam_with(&serde_json::json!({}))).clone(),
            Deploy::Cdk => CDK.get_or_init(cdk_synth).clone(),
        }
    }
}

fn tools_python() -> std::path::PathBuf {
    workspace_root().join("infra/.venv/bin/python")
}

/// `infra/template.yaml` as CloudFormation deploys it with these parameter
/// overrides (`{"Queues": "default,emails"}`): the language extensions
/// (the queues' `Fn::ForEach`) and the SAM transform applied, by the SAM
/// CLI's own processor and translator (`infra/scripts/expand.py`).
pub fn sam_with(overrides: &Value) -> Value {
    let root = workspace_root();
    let out = std::process::Command::new(tools_python())
        .arg(root.join("infra/scripts/expand.py"))
        .arg(root.join("infra/template.yaml"))
        .arg(overrides.to_string())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run infra/.venv's python ({e}); run tests/run.sh, which installs it")
        });
    assert!(
        out.status.success(),
        "expanding the SAM template failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the expanded template is JSON")
}

/// The CDK app's template, synthesized by tests/run.sh into
/// `infra/cdk/cdk.out` (bundling skipped).
fn cdk_synth() -> Value {
    let path = workspace_root().join("infra/cdk/cdk.out/HangarStack.template.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "no CDK synth output at {} ({e}); run tests/run.sh, which synthesizes it",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("the synth output is JSON")
}

/// Every resource of a type, by logical id.
pub fn of_type<'a>(t: &'a Value, ty: &str) -> Vec<(&'a str, &'a Value)> {
    t["Resources"]
        .as_object()
        .expect("a Resources section")
        .iter()
        .filter(|(_, r)| r["Type"] == ty)
        .map(|(k, r)| (k.as_str(), r))
        .collect()
}

/// The Lambda function tagged `hangar:function` = `name` (worker,
/// scheduler, admin): its logical id and resource.
pub fn function<'a>(t: &'a Value, name: &str) -> (&'a str, &'a Value) {
    let found: Vec<_> = of_type(t, "AWS::Lambda::Function")
        .into_iter()
        .filter(|(_, f)| {
            f["Properties"]["Tags"].as_array().is_some_and(|tags| {
                tags.iter()
                    .any(|tag| tag["Key"] == "hangar:function" && tag["Value"] == name)
            })
        })
        .collect();
    assert_eq!(found.len(), 1, "one function tagged hangar:function={name}");
    found[0]
}

/// Every policy statement the function's role carries (inline, attached
/// policy resources, and customer managed policies of the template), but
/// the AWS managed basic execution role (logs).
pub fn statements(t: &Value, name: &str) -> Vec<Value> {
    let (_, f) = function(t, name);
    let role = f["Properties"]["Role"]["Fn::GetAtt"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: the role is one of the template's"));
    let role_res = resource(t, role);
    let mut docs: Vec<&Value> = Vec::new();
    if let Some(inline) = role_res["Properties"]["Policies"].as_array() {
        docs.extend(inline.iter().map(|p| &p["PolicyDocument"]));
    }
    for (_, p) in of_type(t, "AWS::IAM::Policy") {
        let roles = p["Properties"]["Roles"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if roles.iter().any(|r| r["Ref"] == role) {
            docs.push(&p["Properties"]["PolicyDocument"]);
        }
    }
    for arn in role_res["Properties"]["ManagedPolicyArns"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let text = arn.to_string();
        if let Some(id) = arn["Ref"].as_str() {
            docs.push(&resource(t, id)["Properties"]["PolicyDocument"]);
        } else {
            assert!(
                text.contains("service-role/AWSLambdaBasicExecutionRole"),
                "{name}: unexpected managed policy {text}"
            );
        }
    }
    docs.iter()
        .flat_map(|d| d["Statement"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The actions a function's role grants.
pub fn granted(t: &Value, name: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for st in statements(t, name) {
        let actions = match &st["Action"] {
            Value::Array(a) => a.clone(),
            a => vec![a.clone()],
        };
        out.extend(actions.iter().map(|a| a.as_str().unwrap().to_owned()));
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
