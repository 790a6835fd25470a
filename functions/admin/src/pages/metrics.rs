//! The metrics page (`/metrics`): per kind over the last 24 hours, jobs,
//! runs, failed runs and duration percentiles.

use axum::response::Response;
use maud::html;

use super::layout::layout;
use super::render;
use crate::Admin;
use crate::api::stats::kind_metrics;

pub(super) async fn metrics_page(admin: Admin) -> Response {
    let result = async {
        let kinds = kind_metrics(&admin).await?;
        let ms = |v: Option<u64>| match v {
            None => "–".to_owned(),
            Some(u64::MAX) => "> 1000 s".to_owned(),
            Some(v) if v >= 1000 => format!("≤ {} s", v / 1000),
            Some(v) => format!("≤ {v} ms"),
        };
        Ok(layout(&admin, "Metrics", None, html! {
            h1 { "Metrics per kind, last 24 hours" }
            table {
                tr { th { "Kind" } th { "Jobs" } th { "Runs" } th { "Failed runs" } th { "p50" } th { "p95" } }
                @for k in &kinds {
                    tr {
                        td { (k.kind) }
                        td.num { (k.jobs) } td.num { (k.runs) } td.num { (k.failures) }
                        td.num { (ms(k.p50_ms)) } td.num { (ms(k.p95_ms)) }
                    }
                }
            }
            @if kinds.is_empty() { p.muted { "No job finished in the last 24 hours (the timer rolls them up each minute)." } }
        }))
    }
    .await;
    render(&admin, result)
}
