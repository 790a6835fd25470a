//! One owner per outside system: only the `store` module folder sends
//! DynamoDB requests and only the `queue` module sends SQS requests. Every
//! other module of the library, the CLI and the functions call their
//! operations, so a change to the table's layout stays in one place.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_the_store_and_the_queue_module_speak_to_aws() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    for dir in ["shared/src", "cli/src", "functions"] {
        rust_files(&root.join(dir), &mut files);
    }
    let store = root.join("shared/src/store");
    let queue = root.join("shared/src/queue.rs");
    assert!(
        files.iter().any(|f| f.starts_with(&store)),
        "no store module found"
    );
    let mut offenders = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let rel = file.strip_prefix(root).unwrap().display().to_string();
        if !file.starts_with(&store) && text.contains("aws_sdk_dynamodb") {
            offenders.push(format!(
                "{rel} uses aws_sdk_dynamodb (only shared/src/store/ may)"
            ));
        }
        if *file != queue && text.contains("aws_sdk_sqs") {
            offenders.push(format!(
                "{rel} uses aws_sdk_sqs (only shared/src/queue.rs may)"
            ));
        }
    }
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}
