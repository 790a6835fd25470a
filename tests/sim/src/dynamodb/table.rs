//! A table: its key schema, its items (with the version before the last
//! change, for eventually consistent reads), its global secondary indexes
//! (updated after a lag) and TTL.
//!
//! Key rules: "Core components of Amazon DynamoDB" (HowItWorks.CoreComponents.html):
//! key attributes are scalar S, N or B; items in a partition are stored in
//! sort key order. GSIs: "Using Global Secondary Indexes in DynamoDB"
//! (GSI.html): "DynamoDB only writes an item to the index if the index key
//! attributes are present in the item", index updates are eventually
//! consistent ("changes to the table data are propagated to the global
//! secondary indexes within a fraction of a second, under normal
//! conditions"), and the projection (KEYS_ONLY, INCLUDE, ALL) sets what an
//! index entry holds: always the index key and the table key.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::Rng;
use rand::rngs::StdRng;

use super::value::{Av, Item, Num, item_size};

/// A key attribute's value, ordered as DynamoDB orders sort keys (numbers
/// by value, strings and binaries by bytes).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyPart {
    S(String),
    N(Num),
    B(Vec<u8>),
}

impl KeyPart {
    pub fn av(&self) -> Av {
        match self {
            KeyPart::S(s) => Av::S(s.clone()),
            KeyPart::N(n) => Av::N(n.clone()),
            KeyPart::B(b) => Av::B(b.clone()),
        }
    }

    /// The partition key as the throughput counters name it.
    pub fn label(&self) -> String {
        match self {
            KeyPart::S(s) => format!("S:{s}"),
            KeyPart::N(n) => format!("N:{}", n.text()),
            KeyPart::B(b) => format!("B:{b:?}"),
        }
    }
}

/// A table's primary key value: partition key, sort key.
pub type Pk = (KeyPart, Option<KeyPart>);

/// A key schema: attribute names and their scalar types (`S`, `N`, `B`).
#[derive(Debug, Clone)]
pub struct KeyDef {
    pub hash: (String, String),
    pub range: Option<(String, String)>,
}

impl KeyDef {
    pub fn names(&self) -> Vec<&str> {
        let mut v = vec![self.hash.0.as_str()];
        if let Some((r, _)) = &self.range {
            v.push(r);
        }
        v
    }

    /// Whether `name` is one of the key's attributes.
    pub fn has(&self, name: &str) -> bool {
        self.hash.0 == name || self.range.as_ref().is_some_and(|r| r.0 == name)
    }

    fn part(
        item: &Item,
        (name, ty): &(String, String),
    ) -> Result<Option<KeyPart>, (String, String)> {
        match item.get(name) {
            None => Ok(None),
            Some(Av::S(s)) if ty == "S" => Ok(Some(KeyPart::S(s.clone()))),
            Some(Av::N(n)) if ty == "N" => Ok(Some(KeyPart::N(n.clone()))),
            Some(Av::B(b)) if ty == "B" => Ok(Some(KeyPart::B(b.clone()))),
            Some(other) => Err((name.clone(), other.type_name().to_owned())),
        }
    }

    /// The key an item has under this schema: Ok(None) if it lacks a key
    /// attribute, Err((attribute, actual type)) on a type mismatch.
    pub fn key_of(&self, item: &Item) -> Result<Option<Pk>, (String, String)> {
        let Some(h) = Self::part(item, &self.hash)? else {
            return Ok(None);
        };
        match &self.range {
            None => Ok(Some((h, None))),
            Some(r) => Ok(Self::part(item, r)?.map(|r| (h, Some(r)))),
        }
    }

    /// The key attributes of `pk` as an item.
    pub fn item_of(&self, pk: &Pk) -> Item {
        let mut out = Item::from([(self.hash.0.clone(), pk.0.av())]);
        if let (Some((r, _)), Some(v)) = (&self.range, &pk.1) {
            out.insert(r.clone(), v.av());
        }
        out
    }
}

#[derive(Debug, Clone)]
pub enum Projection {
    KeysOnly,
    Include(Vec<String>),
    All,
}

/// An index entry's key: index partition key, index sort key, table key.
pub type GsiKey = (KeyPart, Option<KeyPart>, Pk);

/// One change to an index, applied when its time comes.
#[derive(Debug, Clone)]
pub struct GsiChange {
    pub remove: Option<GsiKey>,
    pub put: Option<(GsiKey, Item)>,
}

#[derive(Debug)]
pub struct Gsi {
    pub name: String,
    pub key: KeyDef,
    pub projection: Projection,
    pub entries: BTreeMap<GsiKey, Item>,
    /// Changes not yet visible, by (apply time, sequence).
    pending: BTreeMap<(i64, u64), (Pk, GsiChange)>,
    /// The latest apply time pending per table item: an item's changes
    /// reach the index in the order they were made.
    last: BTreeMap<Pk, i64>,
}

impl Gsi {
    pub fn new(name: String, key: KeyDef, projection: Projection) -> Gsi {
        Gsi {
            name,
            key,
            projection,
            entries: BTreeMap::new(),
            pending: BTreeMap::new(),
            last: BTreeMap::new(),
        }
    }

    /// The key of the entry an item has in this index: none without the
    /// index key attributes.
    pub fn entry_key(&self, pk: &Pk, item: &Item) -> Option<GsiKey> {
        let (h, r) = self.key.key_of(item).ok()??;
        Some((h, r, pk.clone()))
    }

    /// The attributes of an item its index entry holds, in name order:
    /// the index key and the table key, and the others as the projection
    /// says.
    pub fn projected<'a>(
        &'a self,
        table_key: &'a KeyDef,
        item: &'a Item,
    ) -> impl Iterator<Item = (&'a String, &'a Av)> + 'a {
        let is_key = |k: &str| self.key.has(k) || table_key.has(k);
        item.iter().filter(move |(k, _)| match &self.projection {
            Projection::All => true,
            Projection::KeysOnly => is_key(k),
            Projection::Include(extra) => is_key(k) || extra.contains(k),
        })
    }

    /// What an item's index entry holds, as an item.
    fn contents(&self, table_key: &KeyDef, item: &Item) -> Item {
        match &self.projection {
            Projection::All => item.clone(),
            _ => self
                .projected(table_key, item)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// Whether two items have the same index entry contents (their keys
    /// aside).
    pub fn same_projection(&self, table_key: &KeyDef, a: &Item, b: &Item) -> bool {
        self.projected(table_key, a)
            .eq(self.projected(table_key, b))
    }

    /// The size of an item's index entry (as [`item_size`] of it).
    pub fn projected_size(&self, table_key: &KeyDef, item: &Item) -> usize {
        self.projected(table_key, item)
            .map(|(k, v)| k.len() + v.size())
            .sum()
    }

    /// The index change a table write makes (None if the index entry stays
    /// as it is). Entries are compared without building them.
    pub fn change(
        &self,
        table_key: &KeyDef,
        pk: &Pk,
        old: Option<&Item>,
        new: Option<&Item>,
    ) -> Option<GsiChange> {
        let before = old.and_then(|i| Some((self.entry_key(pk, i)?, i)));
        let after = new.and_then(|i| Some((self.entry_key(pk, i)?, i)));
        let put = |(key, item): (GsiKey, &Item)| Some((key, self.contents(table_key, item)));
        match (before, after) {
            (None, None) => None,
            (Some(a), Some(b)) if a.0 == b.0 => {
                if self.same_projection(table_key, a.1, b.1) {
                    None
                } else {
                    Some(GsiChange {
                        remove: None,
                        put: put(b),
                    })
                }
            }
            (before, after) => Some(GsiChange {
                remove: before.map(|b| b.0),
                put: after.and_then(put),
            }),
        }
    }
}

/// An item's current version, and the one before it (None: absent) while
/// an eventually consistent read may still return it.
#[derive(Debug, Clone)]
pub struct Slot {
    pub cur: Option<Item>,
    pub prev: Option<Item>,
    pub changed_ms: i64,
}

#[derive(Debug)]
pub struct Table {
    pub name: String,
    pub arn: String,
    pub created_ms: i64,
    pub key: KeyDef,
    pub attr_defs: Vec<(String, String)>,
    pub gsis: Vec<Gsi>,
    pub items: BTreeMap<Pk, Slot>,
    /// The TTL attribute, when TTL is enabled.
    pub ttl: Option<String>,
    /// Sweeps to run: (time, item).
    pub ttl_queue: BTreeSet<(i64, Pk)>,
    /// Previous versions to forget, in time order: (time, item). Past a
    /// read's staleness no read returns them, and a run of a million jobs
    /// would otherwise hold each item twice.
    stale_until: VecDeque<(i64, Pk)>,
    seq: u64,
}

/// What the model may vary: see [`super::Options`].
pub struct Lags {
    pub gsi_lag_ms: (i64, i64),
    pub ttl_delay_ms: (i64, i64),
    /// How long an eventually consistent read may return the version
    /// before a change.
    pub stale_read_ms: i64,
}

/// TTL: "Expire data with Time to Live (TTL) for DynamoDB" (TTL.html):
/// expired items are deleted "within a few days" of expiry, and an item
/// whose TTL value is more than five years in the past is never deleted.
const TTL_MAX_PAST_S: i64 = 5 * 365 * 24 * 3600;

impl Table {
    pub fn new(
        name: String,
        key: KeyDef,
        attr_defs: Vec<(String, String)>,
        gsis: Vec<Gsi>,
        now_ms: i64,
    ) -> Table {
        Table {
            arn: format!("arn:aws:dynamodb:us-east-1:000000000000:table/{name}"),
            name,
            created_ms: now_ms,
            key,
            attr_defs,
            gsis,
            items: BTreeMap::new(),
            ttl: None,
            ttl_queue: BTreeSet::new(),
            stale_until: VecDeque::new(),
            seq: 0,
        }
    }

    pub fn get(&self, pk: &Pk) -> Option<&Item> {
        self.items.get(pk).and_then(|s| s.cur.as_ref())
    }

    /// The current items from `pk` on, in key order.
    pub fn items_from(&self, pk: Pk) -> impl Iterator<Item = (&Pk, &Item)> {
        self.items
            .range(pk..)
            .filter_map(|(k, s)| Some((k, s.cur.as_ref()?)))
    }

    /// What an eventually consistent read sees: the version before the
    /// last change, sometimes, if the change is recent.
    pub fn read(
        &self,
        pk: &Pk,
        consistent: bool,
        now_ms: i64,
        (stale_ms, chance): (i64, f64),
        rng: &mut StdRng,
    ) -> Option<&Item> {
        let slot = self.items.get(pk)?;
        if !consistent
            && now_ms - slot.changed_ms < stale_ms
            && chance > 0.0
            && rng.random_bool(chance.min(1.0))
        {
            return slot.prev.as_ref();
        }
        slot.cur.as_ref()
    }

    /// The index changes a write from `old` to `new` makes, per index.
    pub fn changes(
        &self,
        pk: &Pk,
        old: Option<&Item>,
        new: Option<&Item>,
    ) -> Vec<(usize, GsiChange)> {
        self.gsis
            .iter()
            .enumerate()
            .filter_map(|(i, g)| g.change(&self.key, pk, old, new).map(|c| (i, c)))
            .collect()
    }

    /// Writes an item's new version (None deletes it): the table at once,
    /// each index after a lag, and the TTL sweep scheduled.
    pub fn commit(
        &mut self,
        pk: Pk,
        mut new: Option<Item>,
        now_ms: i64,
        lags: &Lags,
        rng: &mut StdRng,
    ) {
        if let Some(item) = &mut new {
            item.shrink_to_fit();
        }
        for (i, change) in self.changes(&pk, self.get(&pk), new.as_ref()) {
            let lag = sample(lags.gsi_lag_ms, rng);
            self.seq += 1;
            let g = &mut self.gsis[i];
            let at = (now_ms + lag).max(g.last.get(&pk).copied().unwrap_or(i64::MIN));
            g.last.insert(pk.clone(), at);
            g.pending.insert((at, self.seq), (pk.clone(), change));
        }
        if let (Some(attr), Some(item)) = (&self.ttl, &new)
            && let Some(at) = ttl_due(item, attr, now_ms)
        {
            let delay = sample(lags.ttl_delay_ms, rng);
            self.ttl_queue.insert((at + delay, pk.clone()));
        }
        let slot = self.items.entry(pk.clone()).or_insert(Slot {
            cur: None,
            prev: None,
            changed_ms: now_ms,
        });
        slot.prev = std::mem::replace(&mut slot.cur, new);
        slot.changed_ms = now_ms;
        if slot.cur.is_none() && slot.prev.is_none() {
            self.items.remove(&pk);
        } else if slot.prev.is_some() {
            self.stale_until
                .push_back((now_ms + lags.stale_read_ms, pk));
        }
        self.apply_due(now_ms);
    }

    /// Index changes whose time has come, in order.
    pub fn apply_due(&mut self, now_ms: i64) {
        for g in &mut self.gsis {
            while let Some(entry) = g.pending.first_entry() {
                if entry.key().0 > now_ms {
                    break;
                }
                let ((at, _), (pk, change)) = entry.remove_entry();
                if g.last.get(&pk) == Some(&at) {
                    g.last.remove(&pk);
                }
                if let Some(k) = change.remove {
                    g.entries.remove(&k);
                }
                if let Some((k, v)) = change.put {
                    g.entries.insert(k, v);
                }
            }
        }
    }

    /// Runs the TTL sweeps due by `now_ms`: an item still expired is
    /// deleted (its index entries after the usual lag). Returns the items
    /// deleted.
    pub fn sweep(&mut self, now_ms: i64, lags: &Lags, rng: &mut StdRng) -> usize {
        let mut deleted = 0;
        while let Some(first) = self.ttl_queue.first() {
            if first.0 > now_ms {
                break;
            }
            let (_, pk) = self.ttl_queue.pop_first().expect("not empty");
            let expired = match (&self.ttl, self.get(&pk)) {
                (Some(attr), Some(item)) => {
                    ttl_due(item, attr, now_ms).is_some_and(|t| t <= now_ms)
                }
                _ => false,
            };
            if expired {
                self.commit(pk, None, now_ms, lags, rng);
                deleted += 1;
            }
        }
        self.forget_stale(now_ms, lags.stale_read_ms);
        self.apply_due(now_ms);
        deleted
    }

    /// Drops the previous versions no read can return any more (the item
    /// unchanged for `stale_ms`), and the slots of items deleted that long.
    fn forget_stale(&mut self, now_ms: i64, stale_ms: i64) {
        while let Some((until, _)) = self.stale_until.front()
            && *until <= now_ms
        {
            let (_, pk) = self.stale_until.pop_front().expect("not empty");
            let Some(slot) = self.items.get_mut(&pk) else {
                continue;
            };
            if now_ms - slot.changed_ms >= stale_ms {
                slot.prev = None;
                if slot.cur.is_none() {
                    self.items.remove(&pk);
                }
            }
        }
    }

    /// Schedules the sweep of every item (TTL just enabled).
    pub fn schedule_all(&mut self, now_ms: i64, lags: &Lags, rng: &mut StdRng) {
        let Some(attr) = self.ttl.clone() else { return };
        let due: Vec<(i64, Pk)> = self
            .items
            .iter()
            .filter_map(|(pk, s)| Some((ttl_due(s.cur.as_ref()?, &attr, now_ms)?, pk.clone())))
            .collect();
        for (at, pk) in due {
            let delay = sample(lags.ttl_delay_ms, rng);
            self.ttl_queue.insert((at + delay, pk));
        }
    }

    pub fn item_count(&self) -> usize {
        self.items.values().filter(|s| s.cur.is_some()).count()
    }

    pub fn size_bytes(&self) -> usize {
        self.items
            .values()
            .filter_map(|s| s.cur.as_ref())
            .map(item_size)
            .sum()
    }

    pub fn gsi(&self, name: &str) -> Option<usize> {
        self.gsis.iter().position(|g| g.name == name)
    }
}

/// When an item expires, in epoch ms: its TTL attribute must be a number
/// (epoch seconds) no more than five years in the past.
fn ttl_due(item: &Item, attr: &str, now_ms: i64) -> Option<i64> {
    let Some(Av::N(n)) = item.get(attr) else {
        return None;
    };
    let s = n
        .to_i64()
        .or_else(|| n.text().split('.').next()?.parse().ok())?;
    (s >= now_ms / 1000 - TTL_MAX_PAST_S).then(|| s.saturating_mul(1000))
}

/// A value drawn uniformly from `[min, max]`.
pub fn sample((min, max): (i64, i64), rng: &mut StdRng) -> i64 {
    if max <= min {
        min
    } else {
        rng.random_range(min..=max)
    }
}
