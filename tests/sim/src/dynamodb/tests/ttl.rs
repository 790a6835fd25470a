//! TTL: expired items stay until the sweep deletes them, and the sweep
//! updates the index.

use serde_json::json;

use super::{Db, bucket_query, n, s};
use crate::dynamodb::Options;

#[test]
fn sweep_deletes_expired_items_after_a_delay() {
    let mut d = Db::with(Options {
        gsi_lag_ms: (0, 0),
        ttl_delay_ms: (60_000, 60_000),
        ..Options::default()
    });
    d.ok("UpdateTimeToLive", json!({"TableName": "jobs", "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": true}}));
    let now_s = d.now / 1000;
    d.put(json!({"pk": s("job#1"), "ttl": n(now_s + 10), "bucket": s("succeeded#0"), "bucket_at": n(1)}));
    d.put(json!({"pk": s("job#2"), "ttl": n(now_s + 1000)}));
    d.put(json!({"pk": s("job#3"), "ttl": n(now_s - 6 * 365 * 86400)}));
    d.now += 11_000;
    assert!(d.get("job#1").is_some(), "expired, not yet swept");
    d.now += 59_000;
    d.ok("ListTables", json!({}));
    assert!(d.get("job#1").is_none(), "swept");
    assert!(d.get("job#2").is_some());
    assert!(
        d.get("job#3").is_some(),
        "a TTL more than five years old is never swept"
    );
    let q = d.ok("Query", bucket_query("succeeded#0"));
    assert_eq!(q["Count"], 0, "the sweep removed the index entry");
}

#[test]
fn a_rewritten_item_is_not_swept_by_its_old_expiry() {
    let mut d = Db::with(Options {
        ttl_delay_ms: (1000, 1000),
        ..Options::default()
    });
    d.ok("UpdateTimeToLive", json!({"TableName": "jobs", "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": true}}));
    let now_s = d.now / 1000;
    d.put(json!({"pk": s("job#1"), "ttl": n(now_s + 1)}));
    d.put(json!({"pk": s("job#1"), "ttl": n(now_s + 100)}));
    d.now += 5000;
    assert!(d.get("job#1").is_some());
    d.now += 100_000;
    assert!(d.get("job#1").is_none());
}
