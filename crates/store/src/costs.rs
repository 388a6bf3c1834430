//! The cost ledger: what every invocation was billed, kept per function, version and hour.
//!
//! An invocation's figures are appended to a local journal before its answer leaves the server
//! (one `write`: a write that returned survives the process being killed; [`CostJournal::sync`]
//! makes it survive a power cut too, every few tens of milliseconds), and folded
//! into the store's hourly rows later, in one transaction with the journal position they reach.
//! So a kill -9 at any moment neither loses an answered invocation nor counts one twice: after a
//! restart the fold goes on from the position the store last committed.
//!
//! The journal is a directory of numbered files, `<generation>.log`, of lines
//! `epoch_ms \t function \t version \t architecture \t provisioned \t memory_mb \t billed_ms \t
//! ephemeral_mb \t crc32`, the checksum (hex) covering everything before its tab.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::StoreFuture;

/// One invocation as billed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostEntry {
    /// When it ended, epoch ms.
    pub epoch_ms: i64,
    /// The function's name.
    pub function: String,
    /// The version that ran.
    pub version: String,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// Whether it ran on a provisioned-concurrency environment.
    pub provisioned: bool,
    /// `MemorySize`, MB.
    pub memory_mb: u32,
    /// Billed milliseconds (as the REPORT line says).
    pub billed_ms: u64,
    /// `EphemeralStorage.Size`, MB.
    pub ephemeral_mb: u32,
}

/// Rows are kept per UTC hour: this long.
pub const HOUR_MS: i64 = 3_600_000;

/// The ephemeral storage Lambda includes at no charge, MB.
pub const FREE_EPHEMERAL_MB: u32 = 512;

/// The billed figures of one function version, in one hour, on one kind of environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CostRow {
    /// The function's name.
    pub function: String,
    /// The version.
    pub version: String,
    /// The hour's start, epoch ms.
    pub hour_ms: i64,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// Invocations on provisioned-concurrency environments.
    pub provisioned: bool,
    /// Invocations.
    pub requests: u64,
    /// Billed milliseconds × `MemorySize` MB: exact, integer; GB-seconds are this / 1,024,000.
    pub mb_ms: u64,
    /// Billed milliseconds × the ephemeral storage MB above the free 512.
    pub storage_mb_ms: u64,
}

type RowKey = (String, String, i64, String, bool);

impl CostRow {
    fn key(&self) -> RowKey {
        (
            self.function.clone(),
            self.version.clone(),
            self.hour_ms,
            self.architecture.clone(),
            self.provisioned,
        )
    }

    fn add(&mut self, other: &CostRow) {
        self.requests = self.requests.saturating_add(other.requests);
        self.mb_ms = self.mb_ms.saturating_add(other.mb_ms);
        self.storage_mb_ms = self.storage_mb_ms.saturating_add(other.storage_mb_ms);
    }
}

impl From<&CostEntry> for CostRow {
    fn from(e: &CostEntry) -> Self {
        let extra = u64::from(e.ephemeral_mb.saturating_sub(FREE_EPHEMERAL_MB));
        CostRow {
            function: e.function.clone(),
            version: e.version.clone(),
            hour_ms: e.epoch_ms.max(0).div_euclid(HOUR_MS) * HOUR_MS,
            architecture: e.architecture.clone(),
            provisioned: e.provisioned,
            requests: 1,
            mb_ms: e.billed_ms.saturating_mul(u64::from(e.memory_mb)),
            storage_mb_ms: e.billed_ms.saturating_mul(extra),
        }
    }
}

/// Adds up rows of the same function, version, hour and kind.
pub fn sum_rows(rows: impl IntoIterator<Item = CostRow>) -> Vec<CostRow> {
    let mut sums: BTreeMap<RowKey, CostRow> = BTreeMap::new();
    for r in rows {
        match sums.get_mut(&r.key()) {
            Some(s) => s.add(&r),
            None => {
                sums.insert(r.key(), r);
            }
        }
    }
    sums.into_values().collect()
}

/// How far the journal has been folded into the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct JournalPosition {
    /// The file.
    pub generation: u64,
    /// Bytes of it folded.
    pub offset: u64,
}

/// The durable side of the ledger. Every method is atomic.
pub trait CostStore: Send + Sync {
    /// How far the journal has been folded.
    fn cost_position(&self) -> StoreFuture<'_, JournalPosition>;
    /// Adds `rows` to the hourly figures and moves the position from `from` to `to`, in one
    /// transaction; `Conflict` (changing nothing) if the position is no longer `from`.
    fn fold_costs<'a>(
        &'a self,
        rows: &'a [CostRow],
        from: JournalPosition,
        to: JournalPosition,
    ) -> StoreFuture<'a, ()>;
    /// The hourly rows of hours starting at or after `since_ms`, in key order.
    fn cost_rows(&self, since_ms: i64) -> StoreFuture<'_, Vec<CostRow>>;
}

/// Lines longer than this are not the journal's (names are at most 64 + 10 characters).
const MAX_LINE: usize = 512;

/// A journal file grows to about this before the next fold starts another.
const ROTATE_BYTES: u64 = 4 << 20;

fn line_of(e: &CostEntry) -> String {
    let body = format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        e.epoch_ms,
        e.function,
        e.version,
        e.architecture,
        u8::from(e.provisioned),
        e.memory_mb,
        e.billed_ms,
        e.ephemeral_mb
    );
    let crc = crc32fast::hash(body.as_bytes());
    format!("{body}\t{crc:08x}\n")
}

/// A line without its newline, if it is whole and its checksum holds.
fn parse_line(line: &[u8]) -> Option<CostEntry> {
    let text = std::str::from_utf8(line).ok()?;
    let (body, crc) = text.rsplit_once('\t')?;
    if u32::from_str_radix(crc, 16).ok()? != crc32fast::hash(body.as_bytes()) || crc.len() != 8 {
        return None;
    }
    let f: Vec<&str> = body.split('\t').collect();
    let [epoch_ms, function, version, architecture, provisioned, memory_mb, billed_ms, ephemeral_mb] =
        f.as_slice()
    else {
        return None;
    };
    Some(CostEntry {
        epoch_ms: epoch_ms.parse().ok()?,
        function: (*function).to_string(),
        version: (*version).to_string(),
        architecture: (*architecture).to_string(),
        provisioned: match *provisioned {
            "0" => false,
            "1" => true,
            _ => return None,
        },
        memory_mb: memory_mb.parse().ok()?,
        billed_ms: billed_ms.parse().ok()?,
        ephemeral_mb: ephemeral_mb.parse().ok()?,
    })
}

/// The whole, valid lines at the start of `bytes`, and how many bytes they take.
fn parse_lines(bytes: &[u8]) -> (Vec<CostEntry>, usize) {
    let mut entries = Vec::new();
    let mut used = 0;
    while let Some(end) = bytes[used..].iter().position(|&b| b == b'\n') {
        match parse_line(&bytes[used..used + end]) {
            Some(e) => entries.push(e),
            None => break,
        }
        used += end + 1;
    }
    (entries, used)
}

struct Writer {
    generation: u64,
    file: File,
    len: u64,
    /// How much of the current file is known to be on the disk ([`CostJournal::sync`]).
    synced: u64,
}

/// The append side of the ledger, and the reading of what it holds for the fold.
pub struct CostJournal {
    dir: PathBuf,
    writer: Mutex<Writer>,
}

impl std::fmt::Debug for CostJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CostJournal")
            .field("dir", &self.dir)
            .finish()
    }
}

fn file_of(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("{generation:016}.log"))
}

/// The generations of the journal files in `dir`, in order.
fn generations(dir: &Path) -> io::Result<Vec<u64>> {
    let mut gens = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        if let Some(g) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            gens.push(g);
        }
    }
    gens.sort_unstable();
    Ok(gens)
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl CostJournal {
    /// Opens the journal in `dir` (creating it), given how far the store has folded it. The
    /// newest file loses any torn last line (a power cut while it was written); a journal that
    /// is behind the store's position (a removed or older directory) starts a newer file, so
    /// that nothing appended from now on is taken as already folded.
    pub fn open(dir: &Path, folded: JournalPosition) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let newest = generations(dir)?.last().copied();
        let (generation, len) = match newest {
            Some(g) if g >= folded.generation => {
                let path = file_of(dir, g);
                let bytes = std::fs::read(&path)?;
                let (_, whole) = parse_lines(&bytes);
                let whole = whole as u64;
                if whole < bytes.len() as u64 {
                    tracing::warn!(
                        file = %path.display(),
                        dropped = bytes.len() as u64 - whole,
                        "cost journal: a torn or unreadable tail is dropped"
                    );
                    OpenOptions::new().write(true).open(&path)?.set_len(whole)?;
                }
                if g == folded.generation && whole < folded.offset {
                    (g + 1, 0)
                } else {
                    (g, whole)
                }
            }
            // Nothing here yet: the store's position's own file, unless it says that file
            // had lines (then they are not these).
            None if folded.offset == 0 => (folded.generation.max(1), 0),
            Some(_) | None => (folded.generation + 1, 0),
        };
        let file = open_append(&file_of(dir, generation))?;
        sync_dir(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            writer: Mutex::new(Writer {
                generation,
                file,
                len,
                synced: 0,
            }),
        })
    }

    /// Appends one invocation: one `write` of one line, done when this returns.
    pub fn append(&self, entry: &CostEntry) -> io::Result<()> {
        let line = line_of(entry);
        let mut w = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = w.file.write_all(line.as_bytes()) {
            // A part written (the disk filled): cut it off, so the file stays whole lines.
            let _ = w.file.set_len(w.len);
            return Err(e);
        }
        w.len += line.len() as u64;
        Ok(())
    }

    /// Makes what was appended so far durable (fdatasync of the current file), without holding
    /// appends up while the disk works; false when there was nothing new. Called every few tens
    /// of milliseconds off the request path, so that a power cut loses at most that much.
    pub fn sync(&self) -> io::Result<bool> {
        let (file, generation, len) = {
            let w = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
            if w.synced >= w.len {
                return Ok(false);
            }
            (w.file.try_clone()?, w.generation, w.len)
        };
        file.sync_data()?;
        let mut w = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if w.generation == generation {
            w.synced = w.synced.max(len);
        }
        Ok(true)
    }

    /// Where appends have reached; when the current file is past its size, appends move on to
    /// a new one from here (the returned position is then the old file's end).
    fn end(&self) -> io::Result<(JournalPosition, JournalPosition)> {
        let mut w = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let end = JournalPosition {
            generation: w.generation,
            offset: w.len,
        };
        if w.len < ROTATE_BYTES {
            return Ok((end, end));
        }
        let next = w.generation + 1;
        w.file = open_append(&file_of(&self.dir, next))?;
        w.generation = next;
        w.len = 0;
        w.synced = 0;
        drop(w);
        sync_dir(&self.dir)?;
        Ok((
            end,
            JournalPosition {
                generation: next,
                offset: 0,
            },
        ))
    }

    /// What was appended after `from`: the entries, and the position after them.
    pub fn read_from(
        &self,
        from: JournalPosition,
    ) -> io::Result<(Vec<CostEntry>, JournalPosition)> {
        let (end, next) = self.end()?;
        let mut entries = Vec::new();
        let mut reached = from;
        for generation in generations(&self.dir)? {
            if generation < from.generation || generation > end.generation {
                continue;
            }
            let start = if generation == from.generation {
                from.offset
            } else {
                0
            };
            let mut file = File::open(file_of(&self.dir, generation))?;
            file.seek(SeekFrom::Start(start))?;
            let mut bytes = Vec::new();
            if generation == end.generation {
                file.take(end.offset.saturating_sub(start))
                    .read_to_end(&mut bytes)?;
            } else {
                file.read_to_end(&mut bytes)?;
            }
            let (mut got, used) = parse_lines(&bytes);
            if used < bytes.len() {
                // Appends are whole lines, and the last file's end is where they reached:
                // anything else here was not written by this journal.
                let bad = &bytes[used..];
                let shown = &bad[..bad.len().min(MAX_LINE)];
                tracing::error!(
                    generation,
                    offset = start + used as u64,
                    line = %String::from_utf8_lossy(shown),
                    "cost journal: an unreadable line; the rest of this file is skipped"
                );
            }
            entries.append(&mut got);
            reached = JournalPosition {
                generation,
                offset: start + bytes.len() as u64,
            };
        }
        if next.generation > end.generation && reached.generation == end.generation {
            reached = next;
        }
        Ok((entries, reached.max(from)))
    }

    /// Removes the files wholly before `folded`.
    pub fn remove_before(&self, folded: JournalPosition) -> io::Result<()> {
        for generation in generations(&self.dir)? {
            if generation < folded.generation {
                std::fs::remove_file(file_of(&self.dir, generation))?;
            }
        }
        Ok(())
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u64) -> CostEntry {
        CostEntry {
            epoch_ms: 1_764_683_100_000 + i64::try_from(n).unwrap_or(0) * 1000,
            function: format!("f{}", n % 3),
            version: "$LATEST".into(),
            architecture: "x86_64".into(),
            provisioned: n.is_multiple_of(5),
            memory_mb: 128 * u32::try_from(n % 4 + 1).unwrap_or(1),
            billed_ms: n + 1,
            ephemeral_mb: if n.is_multiple_of(2) { 512 } else { 1024 },
        }
    }

    #[test]
    fn lines_round_trip_and_checksums_catch_changes() {
        let e = entry(7);
        let line = line_of(&e);
        assert!(line.ends_with('\n'));
        let bytes = line.trim_end().as_bytes();
        assert_eq!(parse_line(bytes), Some(e));
        let mut changed = bytes.to_vec();
        let i = changed.iter().position(|&b| b == b'8').unwrap_or(0);
        changed[i] = b'9';
        assert_eq!(parse_line(&changed), None);
        assert_eq!(parse_line(&bytes[..bytes.len() - 1]), None);
    }

    #[test]
    fn rows_bill_memory_and_storage_above_512() {
        let e = CostEntry {
            billed_ms: 3,
            memory_mb: 1024,
            ephemeral_mb: 2048,
            ..entry(1)
        };
        let r = CostRow::from(&e);
        assert_eq!((r.requests, r.mb_ms, r.storage_mb_ms), (1, 3072, 4608));
        assert_eq!(r.hour_ms % HOUR_MS, 0);
        assert!(r.hour_ms <= e.epoch_ms && e.epoch_ms < r.hour_ms + HOUR_MS);
        let sums = sum_rows([r.clone(), r.clone(), CostRow::from(&entry(2))]);
        assert_eq!(sums.len(), 2);
        assert!(sums.iter().any(|s| s.requests == 2 && s.mb_ms == 6144));
    }

    #[test]
    fn sync_reports_new_appends_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = CostJournal::open(dir.path(), JournalPosition::default()).expect("open");
        assert!(!j.sync().expect("sync"), "nothing appended yet");
        j.append(&entry(1)).expect("append");
        assert!(j.sync().expect("sync"));
        assert!(!j.sync().expect("sync"), "already on the disk");
        j.append(&entry(2)).expect("append");
        assert!(j.sync().expect("sync"));
    }

    #[test]
    fn a_torn_tail_is_dropped_and_reading_resumes_where_it_stopped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = CostJournal::open(dir.path(), JournalPosition::default()).expect("open");
        for n in 0..10 {
            j.append(&entry(n)).expect("append");
        }
        let (got, pos) = j.read_from(JournalPosition::default()).expect("read");
        assert_eq!(got, (0..10).map(entry).collect::<Vec<_>>());
        drop(j);
        // A torn line at the end, as a power cut might leave.
        let path = file_of(dir.path(), pos.generation);
        let mut f = OpenOptions::new().append(true).open(&path).expect("file");
        f.write_all(b"1764683100000\tf1\t$LA").expect("write");
        drop(f);
        let j = CostJournal::open(dir.path(), pos).expect("reopen");
        j.append(&entry(10)).expect("append");
        let (got, next) = j.read_from(pos).expect("read");
        assert_eq!(got, vec![entry(10)]);
        let (none, same) = j.read_from(next).expect("read");
        assert!(none.is_empty());
        assert_eq!(same, next);
    }

    #[test]
    fn files_rotate_and_a_journal_behind_the_store_starts_afresh() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = CostJournal::open(dir.path(), JournalPosition::default()).expect("open");
        let line = line_of(&entry(1)).len() as u64;
        let n = ROTATE_BYTES / line + 2;
        for i in 0..n {
            j.append(&entry(i)).expect("append");
        }
        let (got, pos) = j.read_from(JournalPosition::default()).expect("read");
        assert_eq!(got.len() as u64, n);
        assert_eq!(pos.offset, 0, "the fold moved appends to a new file");
        j.append(&entry(0)).expect("append");
        let (got, pos2) = j.read_from(pos).expect("read");
        assert_eq!(got, vec![entry(0)]);
        j.remove_before(pos2).expect("remove");
        assert_eq!(
            generations(dir.path()).expect("list"),
            vec![pos2.generation]
        );
        drop(j);
        // The store is ahead of this directory (it was replaced): new lines go to a newer file.
        let ahead = JournalPosition {
            generation: pos2.generation,
            offset: pos2.offset + 1_000,
        };
        let j = CostJournal::open(dir.path(), ahead).expect("reopen");
        j.append(&entry(3)).expect("append");
        let (got, _) = j.read_from(ahead).expect("read");
        assert_eq!(got, vec![entry(3)]);
    }
}
