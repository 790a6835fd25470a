//! docs/openapi.yaml against the router: the routes, the token, the limits.

use hangar_admin::TOKEN_HEADER;
use serde_json::{Value, json};

/// docs/openapi.yaml is a valid OpenAPI document (openapi-spec-validator)
/// that describes exactly the router's API routes, declares on every
/// action the token the guard asks for, and names the limits the handlers
/// enforce. tests/contract.sh then holds the running API to it.
#[test]
fn openapi_matches_the_routes() {
    let path = hangar_integration_tests::workspace_root().join("docs/openapi.yaml");
    let out = hangar_integration_tests::run_python(
        "import json, sys, yaml\n\
         from openapi_spec_validator import validate\n\
         spec = yaml.safe_load(open(sys.argv[1]))\n\
         validate(spec)\n\
         print(json.dumps(spec))",
        &[path.to_str().unwrap()],
    );
    let spec: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let operations: Vec<(String, String, &Value)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .iter()
                .map(move |(m, op)| (m.to_ascii_uppercase(), path.clone(), op))
        })
        .collect();
    let mut documented: Vec<(String, String)> = operations
        .iter()
        .map(|(m, p, _)| (m.clone(), p.clone()))
        .collect();
    documented.sort();
    let mut routes = hangar_admin::api::route_list();
    routes.sort();
    assert_eq!(
        documented, routes,
        "docs/openapi.yaml (left) against the router (right)"
    );

    // Every route can answer 403 (a local server's host check) and 500;
    // every action needs the token; every input can be refused.
    for (method, path, op) in &operations {
        let responses = op["responses"].as_object().unwrap();
        let has = |code: &str| responses.contains_key(code);
        assert!(has("200") && has("403") && has("500"), "{method} {path}");
        let takes_input = op.get("parameters").is_some() || op.get("requestBody").is_some();
        assert_eq!(
            has("400"),
            takes_input,
            "{method} {path}: 400 documented iff it takes input"
        );
        let token = json!([{ "token": [] }]);
        assert_eq!(
            op.get("security"),
            (method == "POST").then_some(&token),
            "{method} {path}: the actions, and only they, need the token"
        );
    }
    let scheme = &spec["components"]["securitySchemes"]["token"];
    assert_eq!(
        (&scheme["type"], &scheme["in"], &scheme["name"]),
        (&json!("apiKey"), &json!("header"), &json!(TOKEN_HEADER))
    );

    // The documented limits are the enforced ones.
    let resolve = |v: &Value| -> Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => spec.pointer(&r[1..]).unwrap().clone(),
            None => v.clone(),
        }
    };
    let query_max = |path: &str, name: &str| -> u64 {
        let params = spec["paths"][path]["get"]["parameters"].as_array().unwrap();
        let p = params
            .iter()
            .map(&resolve)
            .find(|p| p["name"] == name)
            .unwrap();
        p["schema"]["maximum"].as_u64().unwrap()
    };
    use hangar_admin::api::*;
    assert_eq!(query_max("/api/jobs", "limit"), MAX_PAGE as u64);
    assert_eq!(query_max("/api/batches", "limit"), MAX_BATCHES as u64);
    assert_eq!(query_max("/api/keys/{key}", "limit"), MAX_KEY_PAGE as u64);
    assert_eq!(query_max("/api/batches/{id}", "limit"), MAX_PAGE as u64);
    assert_eq!(
        query_max("/api/batches/{id}", "from"),
        hangar::batch::MAX_BATCH_JOBS as u64
    );
    let bulk = &spec["components"]["schemas"]["Bulk"]["properties"];
    assert_eq!(bulk["limit"]["maximum"], MAX_BULK_STATE);
    assert_eq!(bulk["ids"]["maxItems"], MAX_BULK_IDS);
    let ids = &spec["components"]["schemas"]["MessageIds"]["properties"]["ids"];
    assert_eq!(ids["maxItems"], MAX_BULK_IDS);
    let reschedule = &spec["paths"]["/api/jobs/{id}/reschedule"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"]["properties"];
    assert_eq!(reschedule["delay_seconds"]["maximum"], MAX_DELAY_SECONDS);
}
