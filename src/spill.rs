//! The process's spill file, and the regions of it that spilled uploads are written to.
//!
//! Every spilled piece of every server lives in one anonymous temporary file: spilling costs
//! one file descriptor however many uploads are kept, and nothing is left behind, whatever ends
//! the process.
//!
//! A dropped region is not given back to the file system at once. Writing into pages the page
//! cache does not hold yet costs the kernel about as much again as copying the bytes: on ext4
//! each new page gets a buffer head per block, allocated on the write and freed when the space
//! is punched. A page still cached is only copied into. So the space of a dropped region stays
//! warm for [`Pool::KEEP`], and the next region is taken from it; space left warm longer is
//! punched, before the kernel's periodic writeback (30 s by default) would write bytes nobody
//! wants to disk, and no more than [`Pool::MOST`] bytes are kept warm at once. It is what a
//! memory allocator does with freed pages, for the same reason. Punching happens on a thread of
//! its own, so dropping an upload never waits for the file system.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The process's spill file; `None` when no temporary file can be made (then pieces stay in
/// memory).
pub(crate) fn file() -> Option<&'static File> {
    static SPILL: OnceLock<Option<File>> = OnceLock::new();
    SPILL
        .get_or_init(|| match tempfile::tempfile() {
            Ok(file) => Some(file),
            Err(error) => {
                tracing::warn!(%error, "no temporary file: uploads stay in memory");
                None
            }
        })
        .as_ref()
}

/// A region of the spill file reserved for some pieces' bytes; its space goes back to the
/// [`Pool`] with the last segment that points into it.
///
/// Regions start and end on [`Extent::ALIGN`] boundaries, so punched space gives back every
/// block it used and a write never shares a page with another region's.
#[derive(Debug)]
pub(crate) struct Extent {
    /// Where the region starts in the spill file.
    pub(crate) start: u64,
    /// The region's length (a multiple of [`Extent::ALIGN`]); shortened by
    /// [`Extent::release_after`].
    len: AtomicU64,
    /// How much of the region, from its start, has been allocated ahead of the writes.
    allocated: AtomicU64,
}

impl Extent {
    /// The alignment of every region: the file system's block and the page size.
    pub(crate) const ALIGN: u64 = 4096;
    /// How far ahead of a write its region is allocated, at most (see [`Extent::write_at`]).
    const ALLOCATE_AHEAD: u64 = 32 * 1024 * 1024;

    /// Reserves at least `len` bytes of the spill file; `None` without a spill file.
    pub(crate) fn reserve(len: u64) -> Option<Arc<Extent>> {
        file()?;
        let len = len.checked_next_multiple_of(Self::ALIGN)?;
        let start = match len {
            0 => 0,
            _ => lock(&space().pool).take(len)?,
        };
        Some(Arc::new(Extent {
            start,
            len: AtomicU64::new(len),
            allocated: AtomicU64::new(0),
        }))
    }

    /// The region's length.
    pub(crate) fn len(&self) -> u64 {
        self.len.load(Ordering::Relaxed)
    }

    /// Writes `bytes` from byte `at` of the region (they must fit in it). Writes that go forward through a region allocate it ahead of themselves, a large
    /// step at a time: writing into allocated blocks spares the file system a block
    /// reservation per page, and one allocation covers many writes.
    pub(crate) fn write_at(&self, at: u64, bytes: &[u8]) -> std::io::Result<()> {
        let len = self.len();
        let end = at
            .checked_add(bytes.len() as u64)
            .filter(|end| *end <= len)
            .ok_or_else(|| std::io::Error::other("a write past the end of its region"))?;
        let file = file().ok_or_else(|| std::io::Error::other("no spill file"))?;
        let allocated = self.allocated.load(Ordering::Relaxed);
        if end > allocated {
            let to = end.saturating_add(Self::ALLOCATE_AHEAD).min(len);
            // Only a saving: where it fails (a full disk, a file system without it), the write
            // below allocates as it goes, or fails on its own.
            if rustix::fs::fallocate(
                file,
                rustix::fs::FallocateFlags::empty(),
                self.start + allocated,
                to - allocated,
            )
            .is_ok()
            {
                self.allocated.fetch_max(to, Ordering::Relaxed);
            }
        }
        file.write_all_at(bytes, self.start + at)
    }

    /// Gives back the region past its first `used` bytes, once nothing more will be written
    /// to it.
    pub(crate) fn release_after(&self, used: u64) {
        let from = used.next_multiple_of(Self::ALIGN);
        let len = self.len.fetch_min(from, Ordering::Relaxed);
        self.allocated.fetch_min(from, Ordering::Relaxed);
        if len > from {
            give_back(self.start + from, len - from);
        }
    }
}

impl Drop for Extent {
    fn drop(&mut self) {
        let len = *self.len.get_mut();
        if len > 0 {
            give_back(self.start, len);
        }
    }
}

/// The spill file's free space, and the thread that punches what stays unused.
struct Space {
    pool: Mutex<Pool>,
    /// Told when space is given back.
    given: Condvar,
}

fn space() -> &'static Space {
    static SPACE: OnceLock<Space> = OnceLock::new();
    SPACE.get_or_init(|| Space {
        pool: Mutex::new(Pool::default()),
        given: Condvar::new(),
    })
}

fn lock(pool: &Mutex<Pool>) -> MutexGuard<'_, Pool> {
    // Every critical section leaves the pool consistent.
    pool.lock().unwrap_or_else(|e| e.into_inner())
}

/// Returns a region's space to the pool, for the punching thread to give back to the file
/// system unless it is taken again first.
fn give_back(start: u64, len: u64) {
    static PUNCHER: OnceLock<bool> = OnceLock::new();
    let space = space();
    lock(&space.pool).give(start, len, Instant::now());
    let punching = *PUNCHER.get_or_init(|| {
        std::thread::Builder::new()
            .name("vidmock-spill".into())
            .spawn(punch_unused)
            .map_err(|error| tracing::warn!(%error, "spilled uploads' space is given back at once"))
            .is_ok()
    });
    if punching {
        space.given.notify_one();
    } else {
        let due = lock(&space.pool).expire(Instant::now() + Pool::KEEP);
        punch(due);
    }
}

/// The punching thread: gives space that stayed unused back to the file system.
fn punch_unused() {
    let space = space();
    let mut pool = lock(&space.pool);
    loop {
        let now = Instant::now();
        let due = pool.expire(now);
        if !due.is_empty() {
            drop(pool);
            punch(due);
            pool = lock(&space.pool);
            continue;
        }
        pool = match pool.next_expiry() {
            Some(at) => {
                let wait = at.saturating_duration_since(now);
                match space.given.wait_timeout(pool, wait) {
                    Ok((pool, _)) => pool,
                    Err(poisoned) => poisoned.into_inner().0,
                }
            }
            None => space
                .given
                .wait(pool)
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        };
    }
}

/// Punches `runs` out of the spill file, then returns them to the pool as cold space.
fn punch(runs: Vec<(u64, u64)>) {
    use rustix::fs::FallocateFlags;
    let Some(file) = file() else {
        return;
    };
    for &(start, len) in &runs {
        // Where the file system cannot punch, the space stays taken until it is reused.
        let _ = rustix::fs::fallocate(
            file,
            FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
            start,
            len,
        );
    }
    let mut pool = lock(&space().pool);
    for (start, len) in runs {
        pool.cool(start, len);
    }
}

/// The spill file's free space: runs given back by dropped regions, and where space never
/// used begins.
#[derive(Debug, Default)]
struct Pool {
    /// The free runs, by where they start. No two touch unless one is warm and one cold.
    free: BTreeMap<u64, Run>,
    /// The bytes in warm runs.
    warm: u64,
    /// Where space never handed out begins.
    end: u64,
}

/// A free run of the spill file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    len: u64,
    /// Warm: when it was given back, its pages likely still cached. `None`: punched (cold).
    since: Option<Instant>,
}

impl Pool {
    /// How long given-back space stays warm.
    const KEEP: Duration = Duration::from_secs(5);
    /// The most warm space kept; past it the oldest is punched at once.
    const MOST: u64 = 2 * 1024 * 1024 * 1024;

    /// Takes `len` bytes (a multiple of [`Extent::ALIGN`], not zero): the front of the
    /// smallest warm run that holds them, else of the smallest cold one, else from the end of
    /// the used space (starting in a free run that reaches it, if any). `None`: past the
    /// largest offset.
    fn take(&mut self, len: u64) -> Option<u64> {
        let smallest = |warm: bool| {
            self.free
                .iter()
                .filter(|(_, run)| run.since.is_some() == warm && run.len >= len)
                .min_by_key(|(start, run)| (run.len, **start))
                .map(|(start, _)| *start)
        };
        if let Some(start) = smallest(true).or_else(|| smallest(false)) {
            let run = self.remove(start)?;
            if run.len > len {
                self.free.insert(
                    start + len,
                    Run {
                        len: run.len - len,
                        since: run.since,
                    },
                );
                self.warm += run.since.map_or(0, |_| run.len - len);
            }
            return Some(start);
        }
        let last = self
            .free
            .last_key_value()
            .filter(|(start, run)| *start + run.len == self.end)
            .map(|(start, _)| *start);
        let start = last.unwrap_or(self.end);
        self.end = start.checked_add(len)?;
        if let Some(last) = last {
            self.remove(last);
        }
        Some(start)
    }

    /// Takes the run at `start` out of the pool.
    fn remove(&mut self, start: u64) -> Option<Run> {
        let run = self.free.remove(&start)?;
        self.warm -= run.since.map_or(0, |_| run.len);
        Some(run)
    }

    /// Returns warm space, given back at `now`; it joins warm runs it touches, as old as the
    /// oldest of them.
    fn give(&mut self, start: u64, len: u64, now: Instant) {
        self.join(start, len, Some(now));
    }

    /// Returns punched space.
    fn cool(&mut self, start: u64, len: u64) {
        self.join(start, len, None);
    }

    fn join(&mut self, mut start: u64, len: u64, since: Option<Instant>) {
        let mut run = Run { len, since };
        let warm = since.is_some();
        let before = self.free.range(..start).next_back();
        if let Some((&at, before)) = before.filter(|(at, b)| **at + b.len == start) {
            if before.since.is_some() == warm {
                let before = *before;
                self.remove(at);
                start = at;
                run.len += before.len;
                run.since = run.since.min(before.since);
            }
        }
        if let Some(after) = self.free.get(&(start + run.len)).copied() {
            if after.since.is_some() == warm {
                self.remove(start + run.len);
                run.len += after.len;
                run.since = run.since.min(after.since);
            }
        }
        self.warm += if warm { run.len } else { 0 };
        self.free.insert(start, run);
    }

    /// Takes out the warm runs to punch at `now`: those warm for [`Pool::KEEP`] or longer,
    /// then the oldest until no more than [`Pool::MOST`] bytes are warm. They come back with
    /// [`Pool::cool`] once punched, so that no region is given space while it is punched.
    fn expire(&mut self, now: Instant) -> Vec<(u64, u64)> {
        let mut due = Vec::new();
        while let Some((since, start)) = self
            .free
            .iter()
            .filter_map(|(start, run)| run.since.map(|since| (since, *start)))
            .min()
        {
            if now.saturating_duration_since(since) < Self::KEEP && self.warm <= Self::MOST {
                break;
            }
            if let Some(run) = self.remove(start) {
                due.push((start, run.len));
            }
        }
        due
    }

    /// When the oldest warm run is due to be punched.
    fn next_expiry(&self) -> Option<Instant> {
        self.free
            .values()
            .filter_map(|run| run.since)
            .min()
            .map(|since| since + Self::KEEP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn runs(pool: &Pool) -> Vec<(u64, u64, bool)> {
        pool.free
            .iter()
            .map(|(start, run)| (*start, run.len, run.since.is_some()))
            .collect()
    }

    #[test]
    fn space_given_back_is_taken_again_before_the_file_grows() {
        let mut pool = Pool::default();
        let first = pool.take(50 * MIB).unwrap();
        pool.give(first, 50 * MIB, Instant::now());

        let again = pool.take(50 * MIB).unwrap();

        assert_eq!(again, first);
        assert_eq!(pool.end, 50 * MIB);
        assert!(pool.free.is_empty());
        assert_eq!(pool.warm, 0);
    }

    #[test]
    fn a_smaller_region_takes_the_front_of_the_best_fitting_run_and_leaves_the_rest_warm() {
        let mut pool = Pool::default();
        let now = Instant::now();
        let big = pool.take(8 * MIB).unwrap();
        let _between = pool.take(MIB).unwrap();
        let small = pool.take(2 * MIB).unwrap();
        pool.give(big, 8 * MIB, now);
        pool.give(small, 2 * MIB, now);

        let taken = pool.take(MIB).unwrap();

        assert_eq!(taken, small);
        assert_eq!(
            runs(&pool),
            vec![(big, 8 * MIB, true), (small + MIB, MIB, true)]
        );
        assert_eq!(pool.warm, 9 * MIB);
    }

    #[test]
    fn neighbouring_warm_runs_join_as_old_as_the_oldest() {
        let mut pool = Pool::default();
        let earlier = Instant::now();
        let later = earlier + Duration::from_secs(1);
        let a = pool.take(MIB).unwrap();
        let b = pool.take(MIB).unwrap();
        let c = pool.take(MIB).unwrap();
        pool.give(a, MIB, later);
        pool.give(c, MIB, earlier);

        pool.give(b, MIB, later);

        assert_eq!(runs(&pool), vec![(a, 3 * MIB, true)]);
        assert_eq!(pool.next_expiry(), Some(earlier + Pool::KEEP));
    }

    #[test]
    fn warm_space_is_punched_after_the_keep_time_and_taken_cold_afterwards() {
        let mut pool = Pool::default();
        let given = Instant::now();
        let a = pool.take(4 * MIB).unwrap();
        pool.give(a, 4 * MIB, given);
        assert!(pool.expire(given + Pool::KEEP / 2).is_empty());

        let due = pool.expire(given + Pool::KEEP);
        assert_eq!(due, vec![(a, 4 * MIB)]);
        assert!(pool.free.is_empty(), "space being punched cannot be taken");
        pool.cool(a, 4 * MIB);

        assert_eq!(runs(&pool), vec![(a, 4 * MIB, false)]);
        assert_eq!(pool.warm, 0);
        assert_eq!(pool.next_expiry(), None);
        assert_eq!(pool.take(4 * MIB), Some(a));
    }

    #[test]
    fn warm_runs_are_preferred_to_cold_ones_that_fit_better() {
        let mut pool = Pool::default();
        let now = Instant::now();
        let cold = pool.take(MIB).unwrap();
        let _between = pool.take(MIB).unwrap();
        let warm = pool.take(4 * MIB).unwrap();
        pool.cool(cold, MIB);
        pool.give(warm, 4 * MIB, now);

        assert_eq!(pool.take(MIB), Some(warm));
    }

    #[test]
    fn warm_space_past_the_most_kept_is_punched_at_once_oldest_first() {
        let mut pool = Pool::default();
        let now = Instant::now();
        let half = Pool::MOST / 2 + MIB;
        let old = pool.take(half).unwrap();
        let _between = pool.take(MIB).unwrap();
        let new = pool.take(half).unwrap();
        pool.give(old, half, now);
        pool.give(new, half, now + Duration::from_millis(1));

        let due = pool.expire(now + Duration::from_millis(1));

        assert_eq!(due, vec![(old, half)]);
        assert_eq!(pool.warm, half);
    }

    #[test]
    fn a_free_run_at_the_end_grows_into_new_space_for_a_larger_region() {
        let mut pool = Pool::default();
        let a = pool.take(MIB).unwrap();
        let b = pool.take(MIB).unwrap();
        pool.give(b, MIB, Instant::now());

        let taken = pool.take(3 * MIB).unwrap();

        assert_eq!((a, taken), (0, MIB));
        assert_eq!(pool.end, 4 * MIB);
        assert!(pool.free.is_empty());
        assert_eq!(pool.warm, 0);
    }

    #[test]
    fn a_reused_region_reads_back_only_what_is_written_into_it() {
        let old = Extent::reserve(2 * Extent::ALIGN).unwrap();
        old.write_at(0, &vec![b'o'; 2 * Extent::ALIGN as usize])
            .unwrap();
        drop(old);

        let new = Extent::reserve(2 * Extent::ALIGN).unwrap();
        new.write_at(0, b"new bytes").unwrap();

        let mut read = vec![0; 9];
        file().unwrap().read_exact_at(&mut read, new.start).unwrap();
        assert_eq!(read, b"new bytes");
    }

    #[test]
    fn releasing_a_region_after_its_last_write_gives_its_tail_back() {
        let extent = Extent::reserve(4 * Extent::ALIGN).unwrap();
        extent.write_at(0, b"short").unwrap();

        extent.release_after(5);

        assert_eq!(extent.len(), Extent::ALIGN);
        assert!(extent.write_at(Extent::ALIGN - 1, b"ab").is_err());
    }

    proptest::proptest! {
        /// Whatever is taken, given back, punched and taken again, no two regions in use share
        /// a byte, no free run overlaps one, and the warm count is the warm runs' total.
        #[test]
        fn regions_in_use_never_overlap_each_other_or_free_space(
            steps in proptest::collection::vec((0u8..4, 1u64..64, 0usize..16), 1..200),
        ) {
            let mut pool = Pool::default();
            let mut used: Vec<(u64, u64)> = Vec::new();
            let mut now = Instant::now();
            for (step, size, pick) in steps {
                now += Duration::from_millis(700);
                match step {
                    0 | 1 => {
                        let len = size * Extent::ALIGN;
                        let start = pool.take(len).unwrap();
                        used.push((start, len));
                    }
                    2 if !used.is_empty() => {
                        let (start, len) = used.remove(pick % used.len());
                        pool.give(start, len, now);
                    }
                    _ => {
                        let due = pool.expire(now);
                        for (start, len) in due {
                            pool.cool(start, len);
                        }
                    }
                }
                let mut all: Vec<(u64, u64)> = used.clone();
                all.extend(pool.free.iter().map(|(start, run)| (*start, run.len)));
                all.sort();
                for pair in all.windows(2) {
                    proptest::prop_assert!(pair[0].0 + pair[0].1 <= pair[1].0, "{:?}", pair);
                }
                proptest::prop_assert!(all.iter().all(|(s, l)| s + l <= pool.end));
                let warm: u64 = pool.free.values().filter(|r| r.since.is_some()).map(|r| r.len).sum();
                proptest::prop_assert_eq!(pool.warm, warm);
            }
        }
    }
}
