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

/// The two ways to deploy Hangar, SAM and CDK, each as the plain
/// CloudFormation it deploys, with the default settings and with several
/// queues of their own settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deploy {
    /// `infra/template.yaml`, expanded as CloudFormation expands it.
    Sam,
    /// The CDK app's `cdk synth` output.
    Cdk,
    /// The SAM template with the queues of [`QUEUES`] as parameters.
    SamQueues,
    /// The CDK app with the queues of [`QUEUES`] and an out-of-tree worker
    /// crate ([`OWN_WORKER_BINARY`]), its functions bundled by a stand-in
    /// for `cargo lambda build` that records each build
    /// ([`Deploy::bootstrap`]).
    CdkQueues,
}

/// The queues of [`Deploy::SamQueues`] and [`Deploy::CdkQueues`], each
/// with the settings its event source must get: (name, maximum
/// concurrency, batch size, batching window in seconds). `default` takes
/// the defaults.
pub const QUEUES: [(&str, i64, i64, i64); 3] = [
    ("default", 50, 10, 0),
    ("emails", 5, 1, 0),
    ("reports", 2, 10, 20),
];

/// The binary of the out-of-tree worker crate [`Deploy::CdkQueues`] deploys.
pub const OWN_WORKER_BINARY: &str = "my-worker";

impl Deploy {
    /// Each way, with the default settings and with [`QUEUES`].
    pub const ALL: [Deploy; 4] = [
        Deploy::Sam,
        Deploy::Cdk,
        Deploy::SamQueues,
        Deploy::CdkQueues,
    ];

    /// The queues it deploys, with their settings (as in [`QUEUES`]).
    pub fn queues(self) -> &'static [(&'static str, i64, i64, i64)] {
        match self {
            Deploy::Sam | Deploy::Cdk => &QUEUES[..1],
            Deploy::SamQueues | Deploy::CdkQueues => &QUEUES,
        }
    }

    /// The CloudFormation this way deploys, made once per test process.
    pub fn template(self) -> Value {
        static TEMPLATES: [std::sync::OnceLock<Value>; 4] =
            [const { std::sync::OnceLock::new() }; 4];
        TEMPLATES[self as usize]
            .get_or_init(|| match self {
                Deploy::Sam => sam_with(&serde_json::json!({})),
                Deploy::SamQueues => sam_with(&sam_queue_parameters()),
                Deploy::Cdk | Deploy::CdkQueues => read_json(&self.cdk_template_path()),
            })
            .clone()
    }

    /// Where a CDK way's template is: the default app's as tests/run.sh
    /// synthesizes it (bundling skipped), the other synthesized here once
    /// per test process.
    pub fn cdk_template_path(self) -> std::path::PathBuf {
        match self {
            Deploy::Cdk => workspace_root().join("infra/cdk/cdk.out/HangarStack.template.json"),
            Deploy::CdkQueues => cdk_queues_assembly().join("HangarStack.template.json"),
            Deploy::Sam | Deploy::SamQueues => panic!("{self:?} is not a CDK app"),
        }
    }

    /// For [`Deploy::CdkQueues`]: the bootstrap its function tagged
    /// `hangar:function` = `function` deploys, as the stand-in build wrote
    /// it: the directory `cargo lambda build` ran in, then its arguments.
    pub fn bootstrap(self, function: &str) -> String {
        assert_eq!(
            self,
            Deploy::CdkQueues,
            "only the bundled app has built code"
        );
        let t = self.template();
        let key = function_code_key(&t, function);
        let dir = cdk_queues_assembly();
        let assets = read_json(&dir.join("HangarStack.assets.json"));
        let hash = key.trim_end_matches(".zip");
        let source = assets["files"][hash]["source"]["path"]
            .as_str()
            .unwrap_or_else(|| panic!("no asset {hash} in the assembly"));
        std::fs::read_to_string(dir.join(source).join("bootstrap")).unwrap()
    }
}

fn read_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "no CDK synth output at {} ({e}); run tests/run.sh, which synthesizes it",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("the synth output is JSON")
}

/// The S3 key of a function's code.
fn function_code_key(t: &Value, name: &str) -> String {
    let (_, f) = function(t, name);
    f["Properties"]["Code"]["S3Key"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: code from an asset"))
        .to_owned()
}

/// [`QUEUES`] as the SAM template's parameters.
fn sam_queue_parameters() -> Value {
    let list = |value: fn(&(&str, i64, i64, i64)) -> i64, default: i64| {
        QUEUES
            .iter()
            .filter(|q| value(q) != default)
            .map(|q| format!("{}={}", q.0, value(q)))
            .collect::<Vec<_>>()
            .join(",")
    };
    serde_json::json!({
        "Queues": QUEUES.map(|q| q.0).join(","),
        "QueueMaxConcurrency": list(|q| q.1, 50),
        "QueueBatchSize": list(|q| q.2, 10),
        "QueueBatchingWindow": list(|q| q.3, 0),
    })
}

/// A stand-in for `cargo lambda`: answers `--version` (so the CDK bundles
/// locally) and, for `build --lambda-dir OUT ...`, writes OUT/bootstrap
/// holding the directory it ran in and its arguments.
const STAND_IN_CARGO: &str = r#"#!/bin/sh
if [ "$1" = lambda ] && [ "$2" = --version ]; then
  echo "cargo-lambda (stand-in)"
  exit 0
fi
out=""
prev=""
for arg in "$@"; do
  if [ "$prev" = --lambda-dir ]; then out="$arg"; fi
  prev="$arg"
done
[ "$1 $2" = "lambda build" ] && [ -n "$out" ] || { echo "stand-in cargo: unexpected $*" >&2; exit 1; }
mkdir -p "$out"
printf '%s\n%s\n' "$PWD" "$*" >"$out/bootstrap"
"#;

/// The out-of-tree worker crate of [`Deploy::CdkQueues`], outside this
/// workspace: its directory.
pub fn own_worker_crate() -> std::path::PathBuf {
    scratch().join("my-worker")
}

fn scratch() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("hangar-cdk-{}", std::process::id()))
}

/// Synthesizes [`Deploy::CdkQueues`] (`infra/cdk/synth.sh --bundle`) once
/// per test process; returns the cloud assembly's directory.
fn cdk_queues_assembly() -> std::path::PathBuf {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt;
        let scratch = scratch();
        let bin = scratch.join("bin");
        let worker = own_worker_crate();
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(worker.join("src")).unwrap();
        std::fs::write(
            worker.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{OWN_WORKER_BINARY}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n"
            ),
        )
        .unwrap();
        std::fs::write(worker.join("src/main.rs"), "fn main() {}\n").unwrap();
        let cargo = bin.join("cargo");
        std::fs::write(&cargo, STAND_IN_CARGO).unwrap();
        std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
        let queues = QUEUES
            .iter()
            .map(|(name, concurrency, batch, window)| {
                let setting = |v: i64, default: i64| {
                    if v == default { String::new() } else { v.to_string() }
                };
                format!(
                    "{name}:{}:{}:{}",
                    setting(*concurrency, 50),
                    setting(*batch, 10),
                    setting(*window, 0)
                )
            })
            .collect::<Vec<_>>()
            .join(",");
        let out = scratch.join("cdk.out");
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let run = std::process::Command::new("bash")
            .arg(workspace_root().join("infra/cdk/synth.sh"))
            .arg("--out")
            .arg(&out)
            .arg("--bundle")
            .arg(format!("queues={queues}"))
            .arg(format!(
                "workerManifestPath={}",
                worker.join("Cargo.toml").display()
            ))
            .arg(format!("workerBinary={OWN_WORKER_BINARY}"))
            .arg("tracing=active")
            .env("PATH", path)
            .output()
            .expect("infra/cdk/synth.sh runs");
        assert!(
            run.status.success(),
            "synthesizing the CDK app with several queues failed:\n{}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
        out
    })
    .clone()
}

fn tools_python() -> std::path::PathBuf {
    workspace_root().join("infra/.venv/bin/python")
}

/// `infra/template.yaml` as CloudFormation deploys it with these parameter
/// overrides (`{"Queues": "default,emails"}`; `"AWS::StackName"` the stack
/// name): the language extensions (the queues' `Fn::ForEach`) and the SAM
/// transform applied, by the SAM CLI's own processor and translator
/// (`infra/scripts/expand.py`).
pub fn sam_with(overrides: &Value) -> Value {
    sam_expand(overrides).unwrap_or_else(|e| panic!("expanding the SAM template failed: {e}"))
}

/// [`sam_with`], or what CloudFormation would refuse the parameters or the
/// expanded template for.
pub fn sam_expand(overrides: &Value) -> Result<Value, String> {
    let root = workspace_root();
    let out = std::process::Command::new(tools_python())
        .arg(root.join("infra/scripts/expand.py"))
        .arg(root.join("infra/template.yaml"))
        .arg(overrides.to_string())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run infra/.venv's python ({e}); run tests/run.sh, which installs it")
        });
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).expect("the expanded template is JSON"))
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

/// The actions a function's role grants, but X-Ray's (granted with
/// tracing, which the code does not call itself: the Lambda runtime sends
/// the traces).
pub fn granted(t: &Value, name: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for st in statements(t, name) {
        let actions = match &st["Action"] {
            Value::Array(a) => a.clone(),
            a => vec![a.clone()],
        };
        out.extend(
            (actions.iter().map(|a| a.as_str().unwrap().to_owned()))
                .filter(|a| !a.starts_with("xray:")),
        );
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
            "FilterLogEvents" => {
                out.insert(format!("logs:{op}"));
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
