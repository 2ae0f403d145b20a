//! One append-only file of frames (records or blobs): open with recovery,
//! append through a pending buffer, read a frame at an offset, rewrite
//! whole (tmp + fsync + rename).
//!
//! Appends go to the page cache with pwrite(2) and no fsync: a daemon
//! killed with -9 loses nothing written, a machine crash loses at most the
//! tail, which the next `open` cuts at the first frame that fails.

use crate::error::{DecodeError, JournalError};
use crate::frame::{
    decode_frame, decode_header, encode_frame, encode_header, FileKind, Pruned, FRAME_HEAD,
    HEADER_LEN,
};
use crate::types::Cut;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub(crate) struct FramedFile {
    pub path: PathBuf,
    file: File,
    kind: FileKind,
    /// Bytes on disk that hold whole, valid frames.
    len: u64,
    /// Frames appended but not yet written.
    pending: Vec<u8>,
    pub pruned: Option<Pruned>,
}

fn open_rw(path: &Path, create: bool) -> Result<File, JournalError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .mode(0o600)
        .open(path)
        .map_err(JournalError::io("open", path))
}

impl FramedFile {
    /// Opens (or creates) the file and hands every valid frame, in order,
    /// to `each(offset, payload)`. The first frame that is torn, fails its
    /// CRC, or that `each` refuses ends the file: it is cut there.
    pub fn open(
        path: &Path,
        kind: FileKind,
        mut each: impl FnMut(u64, &[u8]) -> Result<(), DecodeError>,
    ) -> Result<(FramedFile, Option<Cut>), JournalError> {
        let file = open_rw(path, true)?;
        let size = file
            .metadata()
            .map_err(JournalError::io("stat", path))?
            .len();
        let fresh = encode_header(kind, None);
        let mut head = vec![0u8; (size as usize).min(HEADER_LEN)];
        file.read_exact_at(&mut head, 0)
            .map_err(JournalError::io("read", path))?;
        let pruned = if size < HEADER_LEN as u64 {
            // Empty, or torn while the header itself was being written.
            if head[..] != fresh[..head.len()] {
                return Err(JournalError::BadHeader {
                    path: path.into(),
                    reason: DecodeError::Incomplete {
                        need: HEADER_LEN - head.len(),
                    },
                });
            }
            file.write_all_at(&fresh, 0)
                .map_err(JournalError::io("write", path))?;
            None
        } else {
            decode_header(&head, kind).map_err(|reason| JournalError::BadHeader {
                path: path.into(),
                reason,
            })?
        };
        let size = size.max(HEADER_LEN as u64);
        let (len, failure) = scan(&file, path, kind, size, &mut each)?;
        let mut cut = None;
        if let Some(reason) = failure {
            tracing::warn!(
                file = %path.display(),
                offset = len,
                dropped = size - len,
                %reason,
                "journal: cutting a torn or corrupt tail at byte {len} of {}",
                path.display()
            );
            file.set_len(len)
                .map_err(JournalError::io("truncate", path))?;
            cut = Some(Cut {
                file: path.into(),
                offset: len,
                dropped: size - len,
                reason: reason.to_string(),
            });
        }
        let f = FramedFile {
            path: path.into(),
            file,
            kind,
            len,
            pending: Vec::new(),
            pruned,
        };
        Ok((f, cut))
    }

    /// Size including what is pending: the offset the next frame gets.
    pub fn end(&self) -> u64 {
        self.len + self.pending.len() as u64
    }

    /// Queues a frame; returns its offset.
    pub fn push(&mut self, payload: &[u8]) -> u64 {
        let at = self.end();
        encode_frame(payload, &mut self.pending);
        at
    }

    /// Writes the pending frames. On failure nothing of them stays.
    pub fn flush(&mut self) -> Result<(), JournalError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let r = self.file.write_all_at(&self.pending, self.len);
        if let Err(e) = r {
            // Leave the file as it was, so a later append does not land
            // behind half a batch. Best effort: the next open cuts anyway.
            let _ = self.file.set_len(self.len);
            self.pending.clear();
            return Err(JournalError::io("write", &self.path)(e));
        }
        self.len += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    pub fn discard_pending(&mut self) {
        self.pending.clear();
    }

    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.file
            .sync_data()
            .map_err(JournalError::io("fsync", &self.path))
    }

    /// Cuts the file at `offset` (a frame boundary).
    pub fn truncate(&mut self, offset: u64) -> Result<(), JournalError> {
        self.flush()?;
        self.file
            .set_len(offset)
            .map_err(JournalError::io("truncate", &self.path))?;
        self.len = offset;
        Ok(())
    }

    /// The payload of the frame at `offset` (on disk or pending), CRC checked.
    pub fn read(&self, offset: u64) -> Result<Vec<u8>, JournalError> {
        let (frame, _) = self.frame_bytes(offset, usize::MAX)?;
        let (payload, _) = decode_frame(&frame, self.kind).map_err(|r| self.corrupt(offset, r))?;
        Ok(payload.to_vec())
    }

    /// The first `n` bytes (or fewer) of the payload at `offset` and the
    /// frame's length, without the CRC check (`open` checked it): for the
    /// heads of large frames.
    pub fn read_head(&self, offset: u64, n: usize) -> Result<(u64, Vec<u8>), JournalError> {
        let (mut frame, frame_len) = self.frame_bytes(offset, n)?;
        frame.drain(..FRAME_HEAD);
        Ok((frame_len, frame))
    }

    /// The frame at `offset` up to `n` payload bytes, and its whole length.
    /// One pread for frames up to 4 KiB: most records and configs.
    fn frame_bytes(&self, offset: u64, n: usize) -> Result<(Vec<u8>, u64), JournalError> {
        if offset >= self.len {
            let start = (offset - self.len) as usize;
            let bytes = self.pending.get(start..).unwrap_or_default();
            let (payload, used) =
                decode_frame(bytes, self.kind).map_err(|r| self.corrupt(offset, r))?;
            let keep = FRAME_HEAD + n.min(payload.len());
            return Ok((bytes[..keep].to_vec(), used as u64));
        }
        let avail = (self.len - offset) as usize;
        let mut buf = vec![0u8; avail.min(4096).min(FRAME_HEAD.saturating_add(n))];
        if buf.len() < FRAME_HEAD {
            return Err(self.corrupt(
                offset,
                DecodeError::Incomplete {
                    need: FRAME_HEAD - buf.len(),
                },
            ));
        }
        self.read_at(&mut buf, offset)?;
        let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len == 0 || len > self.kind.max_payload() || FRAME_HEAD + len > avail {
            return Err(self.corrupt(offset, DecodeError::BadLength(len as u64)));
        }
        let want = FRAME_HEAD + len.min(n);
        if buf.len() < want {
            let have = buf.len();
            buf.resize(want, 0);
            self.read_at(&mut buf[have..], offset + have as u64)?;
        }
        buf.truncate(want);
        Ok((buf, (FRAME_HEAD + len) as u64))
    }

    fn corrupt(&self, offset: u64, reason: DecodeError) -> JournalError {
        JournalError::Corrupt {
            file: self.path.clone(),
            offset,
            reason,
        }
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), JournalError> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(JournalError::io("read", &self.path))
    }

    /// Bytes on disk.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Starts a replacement of the whole file, written beside it.
    pub fn rewrite(&self, pruned: Option<Pruned>) -> Result<Rewrite, JournalError> {
        let tmp = tmp_path(&self.path);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(JournalError::io("create", &tmp))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(&encode_header(self.kind, pruned))
            .map_err(JournalError::io("write", &tmp))?;
        Ok(Rewrite {
            tmp,
            out,
            at: HEADER_LEN as u64,
            pruned,
            frame: Vec::new(),
        })
    }

    /// Puts a finished rewrite in place of this file.
    pub fn replace(&mut self, rw: Rewrite) -> Result<(), JournalError> {
        let Rewrite {
            tmp,
            out,
            at,
            pruned,
            ..
        } = rw;
        let file = out
            .into_inner()
            .map_err(|e| JournalError::io("write", &tmp)(e.into_error()))?;
        file.sync_all().map_err(JournalError::io("fsync", &tmp))?;
        drop(file);
        std::fs::rename(&tmp, &self.path).map_err(JournalError::io("rename", &tmp))?;
        sync_dir(&self.path)?;
        self.file = open_rw(&self.path, false)?;
        self.len = at;
        self.pending.clear();
        self.pruned = pruned;
        Ok(())
    }
}

/// A replacement file being written.
pub(crate) struct Rewrite {
    tmp: PathBuf,
    out: BufWriter<File>,
    at: u64,
    pruned: Option<Pruned>,
    frame: Vec<u8>,
}

impl Rewrite {
    /// Writes one frame; returns its offset in the new file.
    pub fn push(&mut self, payload: &[u8]) -> Result<u64, JournalError> {
        self.frame.clear();
        encode_frame(payload, &mut self.frame);
        self.out
            .write_all(&self.frame)
            .map_err(JournalError::io("write", &self.tmp))?;
        let at = self.at;
        self.at += self.frame.len() as u64;
        Ok(at)
    }
}

pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Replaces `path` with `bytes`: written to `path.tmp`, fsynced, renamed
/// over, directory fsynced (a crash leaves the old file or the new one).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), JournalError> {
    let tmp = tmp_path(path);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(JournalError::io("create", &tmp))?;
    f.write_all(bytes)
        .map_err(JournalError::io("write", &tmp))?;
    f.sync_all().map_err(JournalError::io("fsync", &tmp))?;
    std::fs::rename(&tmp, path).map_err(JournalError::io("rename", &tmp))?;
    sync_dir(path)
}

/// fsync the directory holding `path`, so a rename in it is durable.
pub(crate) fn sync_dir(path: &Path) -> Result<(), JournalError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(JournalError::io("fsync", dir))
}

/// Walks the frames from the header on; returns where the valid part ends
/// and, if it ends before the file does, why.
fn scan(
    file: &File,
    path: &Path,
    kind: FileKind,
    size: u64,
    each: &mut impl FnMut(u64, &[u8]) -> Result<(), DecodeError>,
) -> Result<(u64, Option<DecodeError>), JournalError> {
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut pos = HEADER_LEN as u64;
    let mut skip = [0u8; HEADER_LEN];
    r.read_exact(&mut skip)
        .map_err(JournalError::io("read", path))?;
    let mut frame = Vec::new();
    while pos < size {
        let mut head = [0u8; FRAME_HEAD];
        let avail = size - pos;
        if avail < FRAME_HEAD as u64 {
            return Ok((
                pos,
                Some(DecodeError::Incomplete {
                    need: FRAME_HEAD - avail as usize,
                }),
            ));
        }
        r.read_exact(&mut head)
            .map_err(JournalError::io("read", path))?;
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if len == 0 || len > kind.max_payload() {
            return Ok((pos, Some(DecodeError::BadLength(len as u64))));
        }
        if avail < (FRAME_HEAD + len) as u64 {
            let need = FRAME_HEAD + len - avail as usize;
            return Ok((pos, Some(DecodeError::Incomplete { need })));
        }
        frame.clear();
        frame.extend_from_slice(&head);
        frame.resize(FRAME_HEAD + len, 0);
        r.read_exact(&mut frame[FRAME_HEAD..])
            .map_err(JournalError::io("read", path))?;
        let checked = decode_frame(&frame, kind).and_then(|(payload, _)| each(pos, payload));
        if let Err(reason) = checked {
            return Ok((pos, Some(reason)));
        }
        pos += frame.len() as u64;
    }
    Ok((pos, None))
}
