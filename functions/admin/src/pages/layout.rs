//! What every page shares: the head with its style, the header with the
//! links to each view, the script behind the action buttons, and the way
//! times and states are printed.

use chrono::{DateTime, Utc};
use hangar::State as JobState;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::Admin;

const CSS: &str = r#"
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:.6em 1.2em;display:flex;gap:1.2em;align-items:center;flex-wrap:wrap}
header a{color:#cfd6e4;text-decoration:none}header a:hover{color:#fff}
header .count{display:inline-block;min-width:1em;margin-left:.3em;padding:0 .35em;border-radius:8px;background:#39425a;color:#fff;font-size:.85em;text-align:center}
header .count:empty{display:none}header .count.Failed:not([data-n="0"]){background:#a4262c}
header strong{font-size:1.1em;color:#fff}
header form{margin-left:auto}header input{padding:.3em;border-radius:3px;border:0;width:22em}
main{padding:1em 1.2em;max-width:1200px}
table{border-collapse:collapse;width:100%;background:#fff;margin:.6em 0 1.2em}
th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid #e3e6eb;vertical-align:top}
th{background:#eef0f4;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.err{color:#a4262c;white-space:pre-wrap;word-break:break-word}
pre{background:#fff;border:1px solid #e3e6eb;padding:.8em;overflow:auto;white-space:pre-wrap;word-break:break-word}
button{padding:.3em .8em;border:1px solid #8a94a6;border-radius:3px;background:#fff;cursor:pointer}
button.danger{border-color:#a4262c;color:#a4262c}
.state{display:inline-block;padding:0 .5em;border-radius:3px;background:#e3e6eb}
.Succeeded{background:#d7f0dd}.Failed{background:#f6d5d7}.Processing{background:#dbe8fb}.Deleted{background:#eee;color:#666}
ol.timeline{list-style:none;padding:0}ol.timeline li{border-left:3px solid #8a94a6;margin:0 0 .6em .4em;padding:.1em .8em}
.muted{color:#6b7385}
table.logs td{font-family:ui-monospace,monospace;font-size:.9em}table.logs td.line{white-space:pre-wrap;word-break:break-word}
table.logs .field{color:#6b7385}table.logs .level.WARN{color:#8a5a00}table.logs .level.ERROR{color:#a4262c}
.bar{display:flex;height:.8em;min-width:8em;background:#e3e6eb;border-radius:3px;overflow:hidden}.bar span{display:block}
.bar .Succeeded{background:#3f9c58}.bar .Failed{background:#c4424a}.bar .Deleted{background:#9aa1ad}
"#;

const JS: &str = r#"
const token = document.querySelector('meta[name=hangar-token]').content || 'dashboard';
document.querySelectorAll('time[datetime]').forEach(t => {
  const d = new Date(t.getAttribute('datetime'));
  if (!isNaN(d)) { t.title = d.toISOString() + ' (UTC)'; t.textContent = d.toLocaleString(); }
});
async function post(url, body) {
  const r = await fetch(url, {method: 'POST', headers: {'content-type': 'application/json', 'x-hangar-token': token}, body: JSON.stringify(body || {})});
  const j = await r.json().catch(() => ({}));
  if (!r.ok) { alert(j.error || r.statusText); return null; }
  return j;
}
document.addEventListener('click', async e => {
  const b = e.target.closest('button[data-post]');
  if (!b) return;
  if (b.dataset.confirm && !confirm(b.dataset.confirm)) return;
  let body = b.dataset.body ? JSON.parse(b.dataset.body) : {};
  if (b.dataset.selected) {
    body.ids = [...document.querySelectorAll('input[name=id]:checked')].map(c => c.value);
    if (!body.ids.length) { alert('Select jobs first.'); return; }
  }
  if (b.dataset.delay) {
    const s = prompt('Run again in how many seconds?', '60');
    if (s === null) return;
    body = {delay_seconds: parseInt(s, 10)};
  }
  const j = await post(b.dataset.post, body);
  if (j === null) return;
  if (j.refused && j.refused.length) alert(j.done + ' done, ' + j.refused.length + ' refused:\n' + j.refused.map(r => r.id + ': ' + r.error).join('\n'));
  location.reload();
});
// Requeue or delete every job a listing's filter matches: steps of 100
// through /api/jobs/bulk, at most 100 jobs a second, with a bar; Stop
// keeps the cursor (in this browser) for Resume.
const bulk = document.querySelector('[data-bulk]');
if (bulk) {
  const filter = JSON.parse(bulk.dataset.bulk), saved = 'hangar-bulk:' + bulk.dataset.bulk;
  const box = bulk.querySelector('.bulk-progress'), bar = box.querySelector('progress'), said = box.querySelector('.said');
  const stopB = bulk.querySelector('[data-bulk-stop]'), resumeB = bulk.querySelector('[data-bulk-resume]');
  let stopping = false;
  const show = (op) => {
    const verb = op.action === 'requeue' ? 'Requeued' : 'Deleted';
    box.hidden = false;
    if (op.total > 0) { bar.max = op.total; bar.value = Math.min(op.done, op.total); } else { bar.removeAttribute('value'); }
    said.textContent = verb + ' ' + op.done + (op.total > 0 ? ' of ' + op.total : '') + ', ' + op.refused + ' refused, ' + op.read + ' read' + (op.reached ? ', back to ' + new Date(op.reached).toISOString().slice(0, 19).replace('T', ' ') + ' UTC' : '') + (op.finished ? ': done.' : op.stopped ? ': stopped.' : '…');
  };
  async function drive(op) {
    stopping = false; stopB.hidden = false; resumeB.hidden = true;
    bulk.querySelectorAll('[data-bulk-action]').forEach(b => b.disabled = true);
    show(op);
    while (!stopping) {
      const started = Date.now();
      const body = op.cursor ? {action: op.action, cursor: op.cursor, limit: 100} : Object.assign({action: op.action, limit: 100}, op.filter);
      const j = await post('/api/jobs/bulk', body);
      if (j === null) { op.stopped = true; break; }
      op.done += j.done; op.refused += j.refused.length; op.read += j.read; op.reached = j.reached || op.reached; op.cursor = j.next;
      if (!j.next) { op.finished = true; localStorage.removeItem(saved); break; }
      localStorage.setItem(saved, JSON.stringify(op));
      show(op);
      await new Promise(r => setTimeout(r, Math.max(0, (j.done + j.refused.length) * 10 - (Date.now() - started))));
    }
    if (stopping) op.stopped = true;
    show(op);
    if (op.finished) { const a = document.createElement('a'); a.href = location.href; a.textContent = ' Show the list as it is now'; box.append(a); liveStats(); }
    stopB.hidden = true;
    bulk.querySelectorAll('[data-bulk-action]').forEach(b => b.disabled = false);
    if (!op.finished && localStorage.getItem(saved)) resumeB.hidden = false;
  }
  bulk.querySelectorAll('[data-bulk-action]').forEach(b => b.addEventListener('click', async () => {
    if (!confirm(b.dataset.confirm)) return;
    const clean = Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== null && v !== false));
    let total = 0;
    const only = Object.keys(clean).length === 1;
    if (only) {
      const r = await fetch('/api/stats', {headers: {'x-hangar-token': token}}).catch(() => null);
      if (r && r.ok) { const s = await r.json(); total = s.states[bulk.dataset.state.toLowerCase()] || 0; }
    }
    drive({action: b.dataset.bulkAction, filter: clean, cursor: null, total, done: 0, refused: 0, read: 0, reached: null});
  }));
  stopB.addEventListener('click', () => { stopping = true; });
  resumeB.addEventListener('click', () => { const op = JSON.parse(localStorage.getItem(saved) || 'null'); if (op) { op.stopped = false; drive(op); } });
  const left = JSON.parse(localStorage.getItem(saved) || 'null');
  if (left) { resumeB.hidden = false; resumeB.textContent = 'Resume ' + left.action + ' (' + left.done + ' done)'; show(Object.assign(left, {stopped: true})); }
}
const all = document.querySelector('input[data-all]');
if (all) all.addEventListener('change', () => document.querySelectorAll('input[name=id]').forEach(c => c.checked = all.checked));
const live = document.querySelector('[data-live-job]');
if (live) {
  const bar = live.querySelector('progress'), said = live.querySelector('.said');
  const tick = setInterval(async () => {
    if (document.hidden) return;
    const r = await fetch('/api/jobs/' + encodeURIComponent(live.dataset.liveJob));
    if (!r.ok) return;
    const j = await r.json();
    if (j.state !== 'Processing') { clearInterval(tick); location.reload(); return; }
    if (j.progress) { bar.value = j.progress.fraction; said.textContent = Math.round(j.progress.fraction * 100) + '% ' + (j.progress.message || ''); }
  }, 2000);
}
// Live counts in the navigation, and the overview's charts and counts,
// from /api/stats every 5 s (paused while the page is hidden).
const estimated = (s, name) => (s.estimated || []).includes(name) ? '≈' : '';
function drawBars(svg, points) {
  const h = parseFloat(svg.dataset.h), rects = svg.querySelectorAll(':scope > rect');
  if (rects.length !== 2 * points.length) return false;
  const max = Math.max(1, ...points.map(p => p.succeeded + p.failed));
  points.forEach((p, i) => {
    const hs = p.succeeded / max * h, hf = p.failed / max * h, at = new Date(p.at).toISOString().slice(11, 16) + ' UTC';
    const [s, f] = [rects[2 * i], rects[2 * i + 1]];
    s.setAttribute('y', h - hs - hf); s.setAttribute('height', hs); s.querySelector('title').textContent = at + ': ' + p.succeeded + ' succeeded';
    f.setAttribute('y', h - hf); f.setAttribute('height', hf); f.querySelector('title').textContent = at + ': ' + p.failed + ' failed';
  });
  return true;
}
function drawStates(svg, s) {
  const h = parseFloat(svg.dataset.h), names = Object.keys(s.states), rects = svg.querySelectorAll(':scope > rect');
  if (rects.length !== names.length) return;
  const max = Math.max(1, ...Object.values(s.states));
  names.forEach((name, i) => {
    const n = s.states[name], bh = n > 0 ? Math.max(2, n / max * h) : 0;
    rects[i].setAttribute('y', h - bh); rects[i].setAttribute('height', bh); rects[i].querySelector('title').textContent = name + ': ' + n;
  });
}
async function liveStats() {
  if (document.hidden) return;
  const r = await fetch('/api/stats', {headers: {'x-hangar-token': token}}).catch(() => null);
  if (!r || !r.ok) return;
  const s = await r.json();
  document.querySelectorAll('[data-count]').forEach(c => {
    const name = c.dataset.count;
    if (name in s.states) { c.textContent = estimated(s, name) + s.states[name]; c.dataset.n = s.states[name]; }
  });
  document.querySelectorAll('svg[data-series]').forEach(svg => { if (!drawBars(svg, s[svg.dataset.series] || [])) location.reload(); });
  const st = document.querySelector('svg[data-states]');
  if (st) drawStates(st, s);
}
liveStats();
setInterval(liveStats, 5000);
const every = document.querySelector('meta[name=refresh]');
if (every) setInterval(() => { if (!document.hidden) location.reload(); }, parseInt(every.content, 10) * 1000);
"#;

pub(super) fn layout(admin: &Admin, title: &str, refresh: Option<u32>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="hangar-token" content=(admin.options.token.clone().unwrap_or_default());
                @if let Some(s) = refresh { meta name="refresh" content=(s); }
                title { (title) " · Hangar" }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    strong { a href="/" { "Hangar" } }
                    @for s in [JobState::Enqueued, JobState::Scheduled, JobState::Processing, JobState::Succeeded, JobState::Failed, JobState::Deleted, JobState::Awaiting] {
                        a href={ "/jobs/" (s.as_str().to_ascii_lowercase()) } { (s.as_str()) span class={ "count " (s.as_str()) } data-count=(s.as_str().to_ascii_lowercase()) {} }
                    }
                    a href="/jobs/scheduled?retries=1" { "Retries" }
                    a href="/recurring" { "Recurring" }
                    a href="/metrics" { "Metrics" }
                    a href="/workers" { "Workers" }
                    a href="/queues" { "Queues" }
                    a href="/batches" { "Batches" }
                    form action="/search" method="get" {
                        input name="id" placeholder="Job id or tag" aria-label="Job id or tag";
                    }
                }
                main {
                    @if admin.options.read_only { p.muted { "Read-only: actions are off." } }
                    (body)
                }
                script { (PreEscaped(JS)) }
            }
        }
    }
}

pub(super) fn time(t: DateTime<Utc>) -> Markup {
    let iso = t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    html! { time datetime=(iso) { (iso) } }
}

pub(super) fn state_badge(s: &str) -> Markup {
    html! { span class={ "state " (s) } { (s) } }
}
