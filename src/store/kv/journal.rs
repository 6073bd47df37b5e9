//! Checks fjall's journal before fjall opens it, and keeps xinshi's own record of how far
//! the store had committed, so that a damaged or missing journal is refused instead of
//! silently replayed short.
//!
//! fjall (3.x) writes its journal as files `<n>.jnl` in the store's directory, the highest
//! number being the active one, each preallocated with zeros. A journal is a run of
//! batches: `Start(count, seqno)`, `count` items (`Item` or `Clear`), `End(xxh3 of the
//! items, "FJL\x03")`. On recovery fjall stops at the first entry it cannot decode and
//! truncates the file there, wherever that is, so bytes flipped at the start of the file
//! cost every batch after them with no error. What a crash can leave, though, is only a
//! torn last batch: a batch is written after the previous one was fsynced. So:
//!
//! - whole batches, then zeros or the end of the file: clean;
//! - whole batches, then the remains of a batch with no whole batch after it, in the active
//!   journal: a torn tail, cut off (as fjall would);
//! - anything else: damaged. Refused, naming the file and offset, unless repairing.
//!
//! A missing journal, or one cut short by whole batches, is not visible in the files left:
//! [`State`] is. It lives next to the store ([`STATE_FILE`]) and holds a sequence number
//! that fjall must reach again when it recovers (see `FjallEngine`), and after a clean stop
//! the names of the journal files that were there.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

/// xinshi's record of the store, next to fjall's files.
pub const STATE_FILE: &str = "xinshi-journal.toml";

/// The trailer of every batch.
const TRAILER_MAGIC: &[u8; 4] = b"FJL\x03";

/// What one journal file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// Whole batches, then zeros (preallocated space) or the end of the file.
    Clean { batches: usize },
    /// Whole batches, then part of one more and no whole batch after it: an interrupted
    /// last write. `at` is where the whole batches end.
    TornTail { at: u64, why: &'static str },
    /// Broken at `at`, with whole batches after the damage (or in a sealed journal, which
    /// was fsynced whole before the next one began).
    Damaged { at: u64, why: &'static str },
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], &'static str> {
        let end = self.pos.checked_add(n).filter(|end| *end <= self.bytes.len()).ok_or("a batch cut short")?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, &'static str> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }

    fn u32(&mut self) -> Result<u32, &'static str> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn u64(&mut self) -> Result<u64, &'static str> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
}

/// Parses one whole batch at `pos`; returns where it ends.
fn parse_batch(bytes: &[u8], pos: usize) -> Result<usize, &'static str> {
    let mut r = Reader { bytes, pos };
    if r.u8()? != 1 {
        return Err("no batch starts there");
    }
    let count = r.u32()?;
    let _seqno = r.u64()?;
    let mut checksum = Xxh3::new();
    for _ in 0..count {
        let start = r.pos;
        match r.u8()? {
            2 => {
                let _value_type = r.u8()?;
                if r.u8()? > 1 {
                    return Err("unknown compression");
                }
                let _keyspace = r.u64()?;
                let key_len = r.u16()?;
                let _value_len = r.u32()?;
                let stored_len = r.u32()?;
                r.take(usize::from(key_len))?;
                r.take(stored_len as usize)?;
            }
            4 => {
                let _keyspace = r.u64()?;
            }
            _ => return Err("an entry of unknown kind inside a batch"),
        }
        checksum.update(&bytes[start..r.pos]);
    }
    if r.u8()? != 3 {
        return Err("a batch with more entries than it announced");
    }
    let expected = r.u64()?;
    if r.take(TRAILER_MAGIC.len())? != TRAILER_MAGIC {
        return Err("a batch trailer without its magic bytes");
    }
    if checksum.digest() != expected {
        return Err("a batch whose checksum does not match");
    }
    Ok(r.pos)
}

/// Classifies the contents of one journal file. `active`: the newest journal, the only
/// one a crash can leave torn.
pub fn scan(bytes: &[u8], active: bool) -> Scan {
    // A whole batch ends with the trailer's 0x03, so the data ends at the last non-zero
    // byte; what follows is preallocated space.
    let data_end = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    let mut pos = 0;
    let mut batches = 0;
    let why = loop {
        if pos >= data_end {
            return Scan::Clean { batches };
        }
        match parse_batch(bytes, pos) {
            Ok(end) => {
                pos = end;
                batches += 1;
            }
            Err(why) => break why,
        }
    };
    let at = pos as u64;
    let whole_batch_after = (pos + 1..data_end).any(|q| bytes[q] == 1 && parse_batch(bytes, q).is_ok());
    if active && !whole_batch_after { Scan::TornTail { at, why } } else { Scan::Damaged { at, why } }
}

/// The journal files in `dir`, oldest first.
pub fn journal_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<(u64, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        if let Some(id) = name.strip_suffix(".jnl").and_then(|id| id.parse::<u64>().ok()) {
            files.push((id, path));
        }
    }
    files.sort();
    Ok(files.into_iter().map(|(_, path)| path).collect())
}

/// Checks every journal in `dir` and cuts off a torn tail (saved as `<name>.torn`). Damage
/// is an error naming the file, unless `repair`: then the file is copied to
/// `<name>.damaged` and cut at the damage.
pub fn check_journals(dir: &Path, repair: bool) -> Result<(), String> {
    let files = journal_files(dir).map_err(|e| format!("cannot list the journal in {}: {e}", dir.display()))?;
    let last = files.len().saturating_sub(1);
    for (i, path) in files.iter().enumerate() {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read journal {}: {e}", path.display()))?;
        match scan(&bytes, i == last) {
            Scan::Clean { .. } => {}
            Scan::TornTail { at, why } => {
                // The bytes cut off are kept aside: should the record of committed sequence
                // numbers show that they were more than an interrupted write, they are there.
                let torn = path.with_extension("jnl.torn");
                let end = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
                std::fs::write(&torn, &bytes[at as usize..end]).map_err(|e| {
                    format!("cannot save the torn tail of {} to {}: {e}", path.display(), torn.display())
                })?;
                tracing::warn!(file = %path.display(), at, why, saved = %torn.display(), "the journal ends in a torn write (an interrupted last batch): cutting it off");
                cut(path, at)?;
            }
            Scan::Damaged { at, why } if repair => {
                let backup = path.with_extension("jnl.damaged");
                std::fs::copy(path, &backup)
                    .map_err(|e| format!("cannot copy journal {} to {}: {e}", path.display(), backup.display()))?;
                tracing::error!(file = %path.display(), at, why, backup = %backup.display(), "repairing: the journal is damaged; cutting it at the damage, what follows is lost");
                cut(path, at)?;
            }
            Scan::Damaged { at, why } => {
                return Err(format!(
                    "journal {} is damaged at byte {at} ({why}), with committed data after the damage; \
                     this is not what a crash leaves. Restore the data directory from a backup, or start \
                     with --repair-journal (storage.repair_journal) to cut the journal there and lose what follows",
                    path.display()
                ));
            }
        }
    }
    Ok(())
}

fn cut(path: &Path, at: u64) -> Result<(), String> {
    let cut = || -> std::io::Result<()> {
        let file = std::fs::OpenOptions::new().write(true).open(path)?;
        file.set_len(at)?;
        file.sync_all()
    };
    cut().map_err(|e| format!("cannot cut journal {} at byte {at}: {e}", path.display()))
}

/// xinshi's record of the store ([`STATE_FILE`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// fjall's next sequence number after recovery must be at least this: every sequence
    /// number below it was acknowledged as durable.
    pub committed_seqno: u64,
    /// Written by a clean stop (and cleared by the next start).
    pub clean_stop: bool,
    /// After a clean stop: the journal files there were.
    pub journals: Vec<String>,
}

impl State {
    /// Reads the record; `None` when there is none.
    pub fn read(dir: &Path) -> Result<Option<State>, String> {
        let path = dir.join(STATE_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map(Some).map_err(|e| {
                format!(
                    "{} is damaged ({e}); start with --repair-journal (storage.repair_journal) to write it anew",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// Replaces the record durably (a new file, fsynced, renamed over the old one).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let text = format!(
            "# Written by xinshi: how far the store had committed, checked when it opens.\n{}",
            toml::to_string(self).map_err(std::io::Error::other)?
        );
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, dir.join(STATE_FILE))?;
        std::fs::File::open(dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &[u8], value: &[u8]) -> Vec<u8> {
        let mut out = vec![2, 0, 0];
        out.extend_from_slice(&1u64.to_le_bytes());
        out.extend_from_slice(&(key.len() as u16).to_le_bytes());
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(value);
        out
    }

    fn batch(seqno: u64, items: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![1];
        out.extend_from_slice(&(items.len() as u32).to_le_bytes());
        out.extend_from_slice(&seqno.to_le_bytes());
        let mut checksum = Xxh3::new();
        for item in items {
            checksum.update(item);
            out.extend_from_slice(item);
        }
        out.push(3);
        out.extend_from_slice(&checksum.digest().to_le_bytes());
        out.extend_from_slice(TRAILER_MAGIC);
        out
    }

    fn journal(n: u64) -> (Vec<u8>, Vec<usize>) {
        let mut out = Vec::new();
        let mut ends = Vec::new();
        for seqno in 0..n {
            out.extend(batch(seqno, &[item(b"\x01k", &[1, 2, seqno as u8]), item(b"\x02j", b"value")]));
            ends.push(out.len());
        }
        (out, ends)
    }

    #[test]
    fn whole_batches_then_zeros_are_clean() {
        let (mut bytes, _) = journal(5);
        assert_eq!(scan(&bytes, true), Scan::Clean { batches: 5 });
        bytes.resize(bytes.len() + 4096, 0);
        assert_eq!(scan(&bytes, false), Scan::Clean { batches: 5 });
        assert_eq!(scan(&[], true), Scan::Clean { batches: 0 });
    }

    #[test]
    fn a_torn_last_batch_is_a_torn_tail_only_in_the_active_journal() {
        let (bytes, ends) = journal(5);
        let mut torn = bytes[..bytes.len() - 7].to_vec();
        torn.resize(torn.len() + 100, 0);
        assert!(matches!(scan(&torn, true), Scan::TornTail { at, .. } if at == ends[3] as u64));
        assert!(matches!(scan(&torn, false), Scan::Damaged { .. }));
    }

    #[test]
    fn damage_with_whole_batches_after_it_is_damage() {
        let (bytes, ends) = journal(5);
        let mut flipped = bytes.clone();
        for b in &mut flipped[..8] {
            *b ^= 0xff;
        }
        assert!(matches!(scan(&flipped, true), Scan::Damaged { at: 0, .. }));
        let mut middle = bytes.clone();
        middle[ends[1] + 30] ^= 0x40;
        assert!(matches!(scan(&middle, true), Scan::Damaged { at, .. } if at == ends[1] as u64));
        let mut zeroed = bytes;
        zeroed[..ends[0]].fill(0);
        assert!(matches!(scan(&zeroed, true), Scan::Damaged { at: 0, .. }));
    }
}
