//! A map that remembers which of its keys changed, so a save writes what changed and nothing
//! else.
//!
//! The state file's promise (a request is answered once its change is durable) used to cost a
//! snapshot of the whole state per change, which grows with the state. Vendors keep the objects
//! they save in these maps instead: every way to change an entry marks its key, and a save takes
//! the marks ([`Tracked::take_changes`]) and writes those entries alone. Marking cannot be
//! forgotten, because the map hands out no mutable access without marking.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::Hash;

use indexmap::IndexMap;
use serde::Serialize;

use crate::engine::vendor::{Blob, Change, Changes};
use crate::upload::{Assembly, Digest256, Retention};
use std::sync::Arc;

/// Marks kept beyond the map's own size plus this give way to one "everything": a map whose
/// changes nobody takes (a server without a state file) stops marking, so its marks never
/// outgrow it, however many keys come and go.
const SLACK: usize = 1024;

/// An insertion-ordered map whose changed keys are recorded until taken.
#[derive(Debug)]
pub(crate) struct Tracked<K, V> {
    map: IndexMap<K, V>,
    /// Keys inserted, changed or removed since the last [`Tracked::take_changes`].
    changed: HashSet<K>,
    /// Only a whole snapshot describes the map now: it was cleared, or changed more than its
    /// marks may hold.
    whole: bool,
}

impl<K, V> Default for Tracked<K, V> {
    fn default() -> Self {
        Self {
            map: IndexMap::new(),
            changed: HashSet::new(),
            whole: false,
        }
    }
}

/// What changed in a [`Tracked`] map since the changes were last taken.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Changed<K> {
    /// These keys were inserted, changed or removed.
    Keys(Vec<K>),
    /// The map was cleared: describe it whole.
    Everything,
}

impl<K: Hash + Eq + Clone, V> Tracked<K, V> {
    /// An empty map.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(key)
    }

    pub(crate) fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.contains_key(key)
    }

    /// The entry to change; its key is marked changed.
    pub(crate) fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let index = self.map.get_index_of(key)?;
        if let Some((key, _)) = self.map.get_index(index) {
            if !self.whole && !self.changed.contains::<K>(key) {
                let key = key.clone();
                self.mark(key);
            }
        }
        self.map.get_index_mut(index).map(|(_, value)| value)
    }

    /// Inserts or replaces (keeping the key's place), and marks the key.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        if !self.whole {
            self.mark(key.clone());
        }
        self.map.insert(key, value)
    }

    /// Removes, keeping the order of the rest, and marks the key.
    pub(crate) fn shift_remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (key, value) = self.map.shift_remove_entry(key)?;
        self.mark(key);
        Some(value)
    }

    /// Adds or replaces every entry, marking their keys.
    pub(crate) fn extend(&mut self, entries: impl IntoIterator<Item = (K, V)>) {
        for (key, value) in entries {
            self.insert(key, value);
        }
    }

    /// Keeps the entries `keep` accepts; the others' keys are marked.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        let mut gone = Vec::new();
        self.map.retain(|key, value| {
            let kept = keep(key, value);
            if !kept {
                gone.push(key.clone());
            }
            kept
        });
        gone.into_iter().for_each(|key| self.mark(key));
    }

    /// Empties the map; the next changes taken are [`Changed::Everything`].
    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.changed = HashSet::new();
        self.whole = true;
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> {
        self.map.keys()
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.map.values()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.iter()
    }

    /// Takes what changed since the last call.
    pub(crate) fn take_changes(&mut self) -> Changed<K> {
        if std::mem::take(&mut self.whole) {
            self.changed = HashSet::new();
            return Changed::Everything;
        }
        // Taken rather than drained: a set that once held every key (after a restore) would
        // keep its capacity, and draining scans every bucket.
        Changed::Keys(std::mem::take(&mut self.changed).into_iter().collect())
    }

    /// Marks `key` changed (again, for a change taken that could not be written yet).
    pub(crate) fn mark(&mut self, key: K) {
        if self.whole {
            return;
        }
        if self.changed.len() >= self.map.len() + SLACK {
            self.changed = HashSet::new();
            self.whole = true;
            return;
        }
        self.changed.insert(key);
    }

    /// Whether anything changed since the changes were last taken.
    #[cfg(test)]
    fn is_changed(&self) -> bool {
        self.whole || !self.changed.is_empty()
    }
}

impl<K: Hash + Eq + Clone, V> FromIterator<(K, V)> for Tracked<K, V> {
    /// A map of these entries, every key marked.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        let mut map = Tracked::new();
        for (key, value) in entries {
            map.insert(key, value);
        }
        map
    }
}

/// Gathers what changed in a vendor's tracked maps into the [`Changes`] a save writes.
pub(crate) struct Recorder {
    changes: Vec<Change>,
    blobs: Vec<Blob>,
    unhashed: Vec<Digest256>,
    everything: bool,
    retention: Retention,
}

impl Recorder {
    /// A recorder for a vendor keeping `retention` of uploads.
    pub(crate) fn new(retention: Retention) -> Self {
        Self {
            changes: Vec::new(),
            blobs: Vec::new(),
            unhashed: Vec::new(),
            everything: false,
            retention,
        }
    }

    /// Something changed that only a whole snapshot describes.
    pub(crate) fn everything(&mut self) {
        self.everything = true;
    }

    /// Records each changed entry of `map` under `key(k)`: its value, or its removal.
    pub(crate) fn map<K, V, S>(&mut self, map: &mut Tracked<K, V>, key: impl Fn(K) -> S)
    where
        K: Hash + Eq + Clone,
        V: Serialize,
        S: Serialize,
    {
        self.map_with_files(map, key, |_| (None, None));
    }

    /// Like [`Recorder::map`], for entries that hold a finished upload: `file` gives an entry's
    /// digest and file. An entry whose sha256 is not known yet is left out and stays marked (its
    /// digest is handed back to be computed off the lock); a file whose bytes are kept is listed
    /// to be written beside the state.
    pub(crate) fn map_with_files<K, V, S>(
        &mut self,
        map: &mut Tracked<K, V>,
        key: impl Fn(K) -> S,
        file: impl Fn(&V) -> (Option<&Digest256>, Option<&Arc<Assembly>>),
    ) where
        K: Hash + Eq + Clone,
        V: Serialize,
        S: Serialize,
    {
        self.map_keeping(map, key, file, |_| Vec::new());
    }

    /// Like [`Recorder::map_with_files`], and lists the small files `kept` names in each
    /// changed entry (images a client uploaded) to be written beside the state whatever the
    /// retention: a restored entry serves them.
    pub(crate) fn map_keeping<K, V, S>(
        &mut self,
        map: &mut Tracked<K, V>,
        key: impl Fn(K) -> S,
        file: impl Fn(&V) -> (Option<&Digest256>, Option<&Arc<Assembly>>),
        kept: impl Fn(&V) -> Vec<Blob>,
    ) where
        K: Hash + Eq + Clone,
        V: Serialize,
        S: Serialize,
    {
        let keys = match map.take_changes() {
            Changed::Everything => return self.everything(),
            Changed::Keys(keys) => keys,
        };
        for k in keys {
            let value = map.get(&k);
            let (digest, assembly) = value.map_or((None, None), &file);
            if let Some(digest) = digest.filter(|d| !d.is_known()) {
                self.unhashed.push(digest.clone());
                map.mark(k);
                continue;
            }
            if let (Some(digest), Some(assembly), Retention::Memory) =
                (digest, assembly, self.retention)
            {
                self.blobs.push(Blob {
                    sha256: digest.sha256().to_owned(),
                    file: assembly.clone(),
                });
            }
            if let Some(value) = value {
                self.blobs.extend(kept(value));
            }
            self.changes.push(Change {
                key: to_json(&key(k)),
                value: value.map(to_json),
            });
        }
    }

    /// What was recorded.
    pub(crate) fn finish(self) -> Changes {
        if self.everything {
            return Changes::Everything;
        }
        Changes::Objects {
            changes: self.changes,
            blobs: self.blobs,
            unhashed: self.unhashed,
        }
    }
}

/// Puts an entry a change saved back into `map` (`fix` makes it whole: what a document does not
/// hold), or removes it when the change is a removal.
pub(crate) fn replay_into<K, V>(
    map: &mut Tracked<K, V>,
    key: K,
    value: Option<serde_json::Value>,
    fix: impl FnOnce(&mut V),
) -> Result<(), serde_json::Error>
where
    K: Hash + Eq + Clone,
    V: serde::de::DeserializeOwned,
{
    match value {
        None => {
            map.shift_remove(&key);
        }
        Some(value) => {
            let mut value: V = serde_json::from_value(value)?;
            fix(&mut value);
            map.insert(key, value);
        }
    }
    Ok(())
}

/// Plain data as JSON: serialising it cannot fail.
fn to_json(value: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(changed: Changed<&'static str>) -> Vec<&'static str> {
        match changed {
            Changed::Keys(mut keys) => {
                keys.sort_unstable();
                keys
            }
            Changed::Everything => panic!("expected keys"),
        }
    }

    #[test]
    fn every_way_to_change_an_entry_marks_its_key_and_reading_marks_nothing() {
        let mut map: Tracked<&str, u32> = [("a", 1), ("b", 2), ("c", 3), ("d", 4)]
            .into_iter()
            .collect();
        let _ = map.take_changes();

        let _ = map.get("a");
        let _ = map.values().count();
        assert!(!map.is_changed());
        if let Some(b) = map.get_mut("b") {
            *b += 1;
        }
        map.shift_remove("c");
        map.retain(|key, _| *key != "d");
        map.insert("e", 5);

        assert_eq!(keys(map.take_changes()), vec!["b", "c", "d", "e"]);
        assert_eq!(map.take_changes(), Changed::Keys(Vec::new()));
        assert_eq!(map.keys().copied().collect::<Vec<_>>(), vec!["a", "b", "e"]);
    }

    #[test]
    fn marks_never_outgrow_the_map_when_nobody_takes_them() {
        let mut map: Tracked<u32, ()> = Tracked::new();

        for key in 0..(3 * SLACK as u32) {
            map.insert(key, ());
            map.shift_remove(&key);
        }

        assert!(map.changed.is_empty());
        assert_eq!(map.take_changes(), Changed::Everything);
        map.insert(1, ());
        assert_eq!(map.take_changes(), Changed::Keys(vec![1]));
    }

    #[test]
    fn a_cleared_map_asks_for_everything_once() {
        let mut map: Tracked<&str, u32> = [("a", 1)].into_iter().collect();

        map.clear();

        assert_eq!(map.take_changes(), Changed::Everything);
        assert_eq!(map.take_changes(), Changed::Keys(Vec::new()));
    }
}
