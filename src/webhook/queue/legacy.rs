//! Import of the segment log that versions before the redb store kept in the queue directory
//! (`<first seq>.seg` files of `[len u32][crc32 u32][seq u64][delivery JSON]` records and a
//! `done.log` of `[crc32][seq]` completion markers), so that an upgrade loses no accepted
//! delivery. Runs at open; the old files are deleted once the import is committed.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use redb::{Database, ReadableTable, ReadableTableMetadata};

use super::QueueError;
use super::store::{DELIVERIES, META, RECENT_IDS, store_err};

const HEADER: usize = 8;
const DONE_RECORD: usize = 12;
/// The old queue refused records larger than this; a larger length is a torn or corrupt frame.
const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Set in [`META`] by the commit that imported the segment log.
const IMPORTED: &str = "legacy_segments_imported";

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> QueueError + '_ {
    move |source| QueueError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The old queue's files in a directory.
struct OldFiles {
    /// `(first seq, path)` in seq order.
    segments: Vec<(u64, PathBuf)>,
    /// `done.log` and its temporary, where present.
    others: Vec<PathBuf>,
}

fn old_files(dir: &Path) -> Result<OldFiles, QueueError> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(first) = name
            .strip_suffix(".seg")
            .and_then(|n| n.parse::<u64>().ok())
        {
            segments.push((first, entry.path()));
        }
    }
    segments.sort();
    let others = ["done.log", "done.log.tmp"]
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| p.exists())
        .collect();
    Ok(OldFiles { segments, others })
}

/// Imports the segment log in `dir`, if there is one, into `db`: deliveries not completed
/// become live deliveries in the same order, and the latest `dedupe_window` ids join the
/// duplicate window. A crash after the commit but before the old files are gone does not
/// import them twice.
pub(super) fn import(dir: &Path, db: &Database, dedupe_window: usize) -> Result<(), QueueError> {
    let OldFiles { segments, others } = old_files(dir)?;
    if segments.is_empty() && others.is_empty() {
        return Ok(());
    }
    let txn = db.begin_write().map_err(store_err(dir))?;
    let imported = txn
        .open_table(META)
        .and_then(|t| Ok(t.get(IMPORTED)?.is_some()))
        .map_err(store_err(dir))?;
    if !imported {
        let done_path = dir.join("done.log");
        let completed = read_done(&done_path).map_err(io_err(&done_path))?;
        let mut records = Vec::new();
        for (first, path) in &segments {
            for (expected, (seq, json)) in (*first..).zip(read_segment(path).map_err(io_err(path))?)
            {
                if seq != expected {
                    tracing::warn!(segment = %path.display(), seq, expected, "out-of-sequence record; ignoring the rest of the segment");
                    break;
                }
                records.push((seq, json));
            }
        }
        let live = records
            .iter()
            .filter(|(seq, _)| !completed.contains(seq))
            .count();
        write(&txn, &records, &completed, dedupe_window).map_err(store_err(dir))?;
        tracing::info!(
            live,
            records = records.len(),
            "imported the delivery queue of an earlier version"
        );
    }
    txn.commit().map_err(store_err(dir))?;
    for path in segments.iter().map(|(_, p)| p).chain(&others) {
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(path)(e)),
        }
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

fn write(
    txn: &redb::WriteTransaction,
    records: &[(u64, Vec<u8>)],
    completed: &HashSet<u64>,
    dedupe_window: usize,
) -> Result<(), redb::Error> {
    let mut deliveries = txn.open_table(DELIVERIES)?;
    let mut recent = txn.open_table(RECENT_IDS)?;
    // After anything already in the database (there is nothing unless an operator copied old
    // segments into a directory already in use).
    let first = [
        deliveries.last()?.map(|(k, _)| k.value()),
        recent.last()?.map(|(k, _)| k.value()),
    ]
    .into_iter()
    .flatten()
    .map(|k| k + 1)
    .max()
    .unwrap_or(0);
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: String,
    }
    for (next, (seq, json)) in (first..).zip(records) {
        if !completed.contains(seq) {
            // Stored as is; one this version cannot decode is set aside when the queue loads.
            deliveries.insert(next, json.as_slice())?;
        }
        if let Ok(d) = serde_json::from_slice::<IdOnly>(json) {
            recent.insert(next, d.id.as_str())?;
        }
    }
    while recent.len()? > dedupe_window as u64 {
        recent.pop_first()?;
    }
    txn.open_table(META)?
        .insert(IMPORTED, records.len() as u64)?;
    Ok(())
}

/// Reads the intact records of a segment: `(seq, payload)`, stopping at the first torn or
/// corrupt one (never acknowledged).
fn read_segment(path: &Path) -> io::Result<Vec<(u64, Vec<u8>)>> {
    let mut data = Vec::new();
    File::open(path)?.read_to_end(&mut data)?;
    let mut out = Vec::new();
    let mut at = 0usize;
    while data.len() - at >= HEADER {
        let word = |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
        let len = word(at) as usize;
        let crc = word(at + 4);
        let body_start = at + HEADER;
        if !(8..=MAX_RECORD_BYTES + 8).contains(&len) || data.len() - body_start < len {
            break;
        }
        let body = &data[body_start..body_start + len];
        if crc32fast::hash(body) != crc {
            break;
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&body[..8]);
        out.push((u64::from_le_bytes(seq), body[8..].to_vec()));
        at = body_start + len;
    }
    if at < data.len() {
        tracing::warn!(
            segment = %path.display(),
            ignored_bytes = data.len() - at,
            "ignoring a torn or corrupt tail of the old delivery queue (never acknowledged)"
        );
    }
    Ok(out)
}

fn read_done(path: &Path) -> io::Result<HashSet<u64>> {
    let mut data = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut data)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(e) => return Err(e),
    }
    let mut done = HashSet::new();
    // A marker that fails its check is skipped: its delivery is imported as live and processed
    // again, which is idempotent. (The old queue rewrote this file at every open, so only a
    // crash's torn tail, which `chunks_exact` leaves out, is expected here.)
    for rec in data.chunks_exact(DONE_RECORD) {
        let crc = u32::from_le_bytes([rec[0], rec[1], rec[2], rec[3]]);
        if crc32fast::hash(&rec[4..]) != crc {
            continue;
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&rec[4..]);
        done.insert(u64::from_le_bytes(seq));
    }
    Ok(done)
}

#[cfg(test)]
pub(super) mod tests {
    //! Writes files as the old queue did, for the import tests.

    use std::path::Path;

    pub(crate) fn write_segment(dir: &Path, first_seq: u64, jsons: &[Vec<u8>]) {
        let mut buf = Vec::new();
        for (i, json) in jsons.iter().enumerate() {
            let seq = first_seq + i as u64;
            let len = (8 + json.len()) as u32;
            let mut crc = crc32fast::Hasher::new();
            crc.update(&seq.to_le_bytes());
            crc.update(json);
            buf.extend_from_slice(&len.to_le_bytes());
            buf.extend_from_slice(&crc.finalize().to_le_bytes());
            buf.extend_from_slice(&seq.to_le_bytes());
            buf.extend_from_slice(json);
        }
        std::fs::write(dir.join(format!("{first_seq:020}.seg")), buf).unwrap();
    }

    pub(crate) fn write_done(dir: &Path, seqs: &[u64]) {
        let mut buf = Vec::new();
        for seq in seqs {
            buf.extend_from_slice(&crc32fast::hash(&seq.to_le_bytes()).to_le_bytes());
            buf.extend_from_slice(&seq.to_le_bytes());
        }
        std::fs::write(dir.join("done.log"), buf).unwrap();
    }
}
