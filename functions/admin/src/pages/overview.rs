//! The overview (`/`): finished jobs per minute and per hour, jobs per
//! state, and the queues' depths, as inline SVG charts and tables. The
//! layout's script redraws the charts and counts from `/api/stats` every
//! few seconds, without a reload.

use axum::response::Response;
use hangar::json::StatsJson;
use hangar::queue::QueueDepth;
use maud::{Markup, html};

use super::layout::layout;
use super::render;
use crate::Admin;
use crate::api::stats::{Point, collect_stats};

/// Bars of jobs per state, scaled to the largest.
fn chart(stats: &StatsJson) -> Markup {
    let max = stats.states.values().copied().max().unwrap_or(0).max(1) as f64;
    let states: Vec<(&String, &u64)> = stats.states.iter().collect();
    let (w, h, bar) = (560.0, 160.0, 560.0 / states.len().max(1) as f64);
    html! {
        svg width=(w) height={ (h + 30.0) } viewBox={ "0 0 " (w) " " (h + 30.0) } role="img" aria-label="Jobs per state" data-states data-h=(h) {
            @for (i, (name, n)) in states.iter().enumerate() {
                @let bh = (**n as f64 / max * h).max(if **n > 0 { 2.0 } else { 0.0 });
                rect x={ (i as f64 * bar + 6.0) } y={ (h - bh) } width={ (bar - 12.0) } height=(bh) fill="#4a6fa5" {
                    title { (name) ": " (n) }
                }
                text x={ (i as f64 * bar + bar / 2.0) } y={ (h + 18.0) } text-anchor="middle" font-size="11" { (name) }
            }
        }
    }
}

/// Succeeded (green) and Failed (red) stacked per minute or hour.
/// `series` names the points in `/api/stats` (`per_minute`, `per_hour`):
/// the page's script redraws the bars from there every few seconds.
fn timeline(points: &[Point], label: &str, series: &str) -> Markup {
    let max = points
        .iter()
        .map(|p| p.succeeded + p.failed)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let (w, h) = (720.0, 120.0);
    let bar = w / points.len().max(1) as f64;
    html! {
        svg width=(w) height={ (h + 4.0) } viewBox={ "0 0 " (w) " " (h + 4.0) } role="img" aria-label=(label) data-series=(series) data-h=(h) {
            @for (i, p) in points.iter().enumerate() {
                @let hs = p.succeeded as f64 / max * h;
                @let hf = p.failed as f64 / max * h;
                @let x = i as f64 * bar + 1.0;
                rect x=(x) y={ (h - hs - hf) } width={ ((bar - 2.0).max(1.0)) } height=(hs) fill="#3f8f5a" {
                    title { (p.at.format("%H:%M UTC")) ": " (p.succeeded) " succeeded" }
                }
                rect x=(x) y={ (h - hf) } width={ ((bar - 2.0).max(1.0)) } height=(hf) fill="#b3383e" {
                    title { (p.at.format("%H:%M UTC")) ": " (p.failed) " failed" }
                }
            }
        }
    }
}

pub(super) async fn overview(admin: Admin) -> Response {
    let result = async {
        let full = collect_stats(&admin).await?;
        let stats = &full.stats;
        Ok(layout(
            &admin,
            "Overview",
            None,
            html! {
                h1 { "Overview" }
                h2 { "Finished per minute, last hour" }
                (timeline(&full.per_minute, "Succeeded and failed per minute", "per_minute"))
                h2 { "Finished per hour, last 24 hours" }
                (timeline(&full.per_hour, "Succeeded and failed per hour", "per_hour"))
                h2 { "Jobs per state" }
                (chart(stats))
                table {
                    tr { th { "State" } th { "Jobs" } }
                    @for (name, n) in &stats.states {
                        tr {
                            td { a href={ "/jobs/" (name) } { (name) } }
                            td.num data-count=(name) { @if stats.estimated.contains(name) { "≈" } (n) }
                        }
                    }
                }
                @if !stats.estimated.is_empty() {
                    p.muted { "≈: estimated (large states; see the architecture notes)." }
                }
                (queue_table(&stats.queues))
            },
        ))
    }
    .await;
    render(&admin, result)
}

fn queue_table(queues: &[QueueDepth]) -> Markup {
    html! {
        h2 { "Queues" }
        table {
            tr { th { "Queue" } th { "Visible" } th { "In flight" } th { "Delayed" } }
            @for q in queues {
                tr {
                    td {
                        @if let Some(source) = q.name.strip_suffix("-dlq") {
                            a href={ "/queues/" (source) } { (q.name) }
                        } @else { (q.name) }
                    }
                    td.num { (q.visible) } td.num { (q.in_flight) } td.num { (q.delayed) }
                }
            }
        }
    }
}
