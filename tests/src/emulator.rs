//! The emulator the tests run against, and the tools beside it: its
//! endpoint, SDK configurations for it, the credentials processes get, and
//! the Python interpreter of its virtualenv.

/// The region and credentials processes started by tests use on the
/// emulator.
pub const TEST_CREDENTIALS: [(&str, &str); 3] = [
    ("AWS_REGION", "us-east-1"),
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
];

/// The emulator endpoint (`AWS_ENDPOINT_URL`, default `http://127.0.0.1:4566`).
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".to_owned())
}

/// [`sdk_config_at`] the emulator's [`endpoint`].
pub async fn sdk_config() -> aws_config::SdkConfig {
    sdk_config_at(&endpoint()).await
}

/// SDK configuration for an endpoint, with the test credentials.
pub async fn sdk_config_at(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "hangar-tests",
        ))
        .load()
        .await
}

/// The Python interpreter of the emulator's virtualenv (`HANGAR_PYTHON`,
/// set by `tests/run.sh`; default `localstack/.venv/bin/python`), which has
/// boto3, PyYAML and cfn-lint.
pub fn python() -> std::path::PathBuf {
    std::env::var_os("HANGAR_PYTHON")
        .map(Into::into)
        .unwrap_or_else(|| workspace_root().join("localstack/.venv/bin/python"))
}

/// The repository root.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

/// Runs `python -c script args...`, panicking with its stderr on failure;
/// returns its stdout.
pub fn run_python(script: &str, args: &[&str]) -> String {
    run_python_with_input(script, args, "")
}

/// [`run_python`] with `input` on the script's standard input (for data
/// larger than a command-line argument may be).
pub fn run_python_with_input(script: &str, args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); run the tests with tests/run.sh",
                python().display()
            )
        });
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("python runs");
    writer.join().expect("writer").expect("write to python");
    assert!(
        out.status.success(),
        "python failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}
