//! A queue's messages indexed by when they can be received, so that a
//! receive, a count or the search for the next event reads only the
//! messages it concerns and not the whole queue: a backlog of a million
//! messages costs a receive no more than a backlog of ten.

use std::collections::{BTreeSet, HashMap};

use rand::Rng;
use rand::rngs::StdRng;

use super::message::Message;

#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// Messages visible since the last [`Timeline::promote`], in no
    /// order: a receive picks among them at random (a standard queue
    /// keeps no order).
    ready: Vec<u64>,
    /// Where each ready message is in `ready`.
    ready_at: HashMap<u64, usize>,
    /// Messages not visible at the last promotion (delayed, or in
    /// flight): (visible from, seq).
    waiting: BTreeSet<(i64, u64)>,
    /// How many of `waiting` were received (in flight, or due back).
    waiting_received: usize,
    /// Every message by the time it was sent: retention counts from there.
    by_sent: BTreeSet<(i64, u64)>,
}

impl Timeline {
    pub fn add(&mut self, seq: u64, m: &Message) {
        self.by_sent.insert((m.sent_ms, seq));
        self.waiting.insert((m.visible_at_ms, seq));
        if m.received_ms.is_some() {
            self.waiting_received += 1;
        }
    }

    pub fn remove(&mut self, seq: u64, m: &Message) {
        self.by_sent.remove(&(m.sent_ms, seq));
        if self.waiting.remove(&(m.visible_at_ms, seq)) {
            if m.received_ms.is_some() {
                self.waiting_received -= 1;
            }
        } else if let Some(i) = self.ready_at.remove(&seq) {
            self.ready.swap_remove(i);
            if let Some(&moved) = self.ready.get(i) {
                self.ready_at.insert(moved, i);
            }
        }
    }

    pub fn clear(&mut self) {
        *self = Timeline::default();
    }

    /// Moves every message visible by `now_ms` to the ready ones.
    pub fn promote(&mut self, now_ms: i64, received: impl Fn(u64) -> bool) {
        while let Some(&(at, seq)) = self.waiting.first() {
            if at > now_ms {
                break;
            }
            self.waiting.pop_first();
            if received(seq) {
                self.waiting_received -= 1;
            }
            self.ready_at.insert(seq, self.ready.len());
            self.ready.push(seq);
        }
    }

    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }

    /// Draws the `i`-th of a random order of the ready messages (a
    /// Fisher–Yates step: call with 0, 1, 2… while the ready messages
    /// stay as they are).
    pub fn draw(&mut self, i: usize, rng: &mut StdRng) -> u64 {
        let j = rng.random_range(i..self.ready.len());
        self.ready.swap(i, j);
        self.ready_at.insert(self.ready[i], i);
        self.ready_at.insert(self.ready[j], j);
        self.ready[i]
    }

    /// The messages not visible at the last promotion, by when they
    /// become so.
    pub fn waiting(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        self.waiting.iter().copied()
    }

    /// (visible, in flight, delayed) at `now_ms`, no earlier than the
    /// last promotion; `received` tells a received message.
    pub fn counts(&self, now_ms: i64, received: impl Fn(u64) -> bool) -> (usize, usize, usize) {
        let (mut due, mut due_received) = (0, 0);
        for &(_, seq) in self.waiting.range(..=(now_ms, u64::MAX)) {
            due += 1;
            if received(seq) {
                due_received += 1;
            }
        }
        let in_flight = self.waiting_received - due_received;
        let delayed = self.waiting.len() - due - in_flight;
        (self.ready.len() + due, in_flight, delayed)
    }

    /// The earliest time after `now_ms` at which a message becomes
    /// visible or passes `retention_ms`.
    pub fn next_event_ms(&self, now_ms: i64, retention_ms: i64) -> Option<i64> {
        let visible = self
            .waiting
            .range((now_ms + 1, 0)..)
            .next()
            .map(|(at, _)| *at);
        let expires = self
            .by_sent
            .range((now_ms + 1 - retention_ms, 0)..)
            .next()
            .map(|(sent, _)| sent + retention_ms);
        visible.into_iter().chain(expires).min()
    }

    /// The messages sent before `before_ms`.
    pub fn sent_before(&self, before_ms: i64) -> Vec<u64> {
        self.by_sent
            .range(..(before_ms, 0))
            .map(|(_, seq)| *seq)
            .collect()
    }

    pub fn oldest_sent_ms(&self) -> Option<i64> {
        self.by_sent.first().map(|(at, _)| *at)
    }
}
