//! The state directory, in the reference's layout, byte for byte:
//!
//! ```text
//! <dataDir>/<network>/lock                 empty; flock(LOCK_EX) serialises every operation
//! <dataDir>/<network>/last_reserved_ip.<N>  the last address taken from range set N
//! <dataDir>/<network>/<address>             one per allocation: "<containerID>\r\n<ifname>"
//! ```
//!
//! Records written by the reference before interface names existed hold only
//! the container ID; they are still matched. A record is never half written:
//! it is written to an unnamed file (`O_TMPFILE`) and then linked into place,
//! which also makes the reservation exclusive (`EEXIST` = taken) and leaves
//! nothing behind if the process is killed. Filesystems without `O_TMPFILE`
//! get a named temporary file instead, and those without hard links an
//! exclusive create.
//!
//! The reference finds a container's records by reading every file. Here an
//! index answers that in O(1) (see [`crate::index`]); it is a cache, checked
//! against the directory on every run and rebuilt from it when stale, and
//! any trouble with it falls back to the reference's way.

use std::collections::BTreeSet;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use cni::CniError;
use nix::errno::Errno;
use nix::fcntl::AtFlags;

use crate::config::Location;
use crate::index::Index;
use crate::range::{RangeSet, canonical};

pub const LOCK_FILE: &str = "lock";
pub const LAST_RESERVED_PREFIX: &str = "last_reserved_ip.";
const TMP_PREFIX: &str = ".tmp-";

/// Who holds an address: a container's interface, or (records written by
/// old reference versions) a container without an interface name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Owner {
    pub container_id: String,
    pub ifname: Option<String>,
}

impl Owner {
    pub fn new(container_id: &str, ifname: &str) -> Owner {
        Owner {
            container_id: container_id.to_string(),
            ifname: Some(ifname.to_string()),
        }
    }

    /// The record file's content, as the reference writes it.
    pub fn record(&self) -> String {
        match &self.ifname {
            Some(i) => format!("{}\r\n{i}", self.container_id.trim()),
            None => self.container_id.trim().to_string(),
        }
    }

    /// Read a record's content (surrounding whitespace ignored, as the
    /// reference compares `TrimSpace(content)`).
    pub fn parse(content: &str) -> Owner {
        let t = content.trim();
        match t.split_once("\r\n") {
            Some((id, ifname)) => Owner {
                container_id: id.to_string(),
                ifname: Some(ifname.to_string()),
            },
            None => Owner {
                container_id: t.to_string(),
                ifname: None,
            },
        }
    }
}

/// A container interface's records.
#[derive(Debug, Default)]
pub struct Owned {
    pub exact: Vec<Record>,
    pub legacy: Vec<Record>,
}

impl Owned {
    /// What the reference releases on DEL: exact matches, else legacy ones.
    pub fn into_release(self) -> Vec<Record> {
        if self.exact.is_empty() {
            self.legacy
        } else {
            self.exact
        }
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.legacy.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Record> {
        self.exact.iter().chain(&self.legacy)
    }
}

/// A record found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub ip: IpAddr,
    pub owner: Owner,
}

pub(crate) fn io_err(what: impl std::fmt::Display, path: &Path, e: std::io::Error) -> CniError {
    CniError::internal(format!("{what} {}: {e}", path.display()))
}

/// An open, locked state directory.
pub struct Store {
    dir: PathBuf,
    dir_handle: File,
    _lock: File,
    index: Index,
    /// The directory was changed by this process (the index must be re-stamped).
    changed: bool,
    /// A record already written to an unnamed file, for this content.
    unnamed: Option<(File, String)>,
    /// The filesystem has no O_TMPFILE (or cannot link one).
    no_tmpfile: bool,
    /// A record already written under a temporary name, for this content.
    tmp: Option<(PathBuf, String)>,
    tmp_seq: u32,
    finished: bool,
}

impl Store {
    /// Open and lock `<dataDir>/<network>`. With `create` false, a missing
    /// directory means there is no state: `Ok(None)`, and nothing is created.
    /// `ranges` are the configured range sets (empty when unknown); they
    /// select the index's free-address maps.
    pub fn open(
        loc: &Location,
        ranges: &[RangeSet],
        create: bool,
    ) -> Result<Option<Store>, CniError> {
        let dir = loc.data_dir.join(&loc.network);
        if create {
            DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&dir)
                .map_err(|e| io_err("create state directory", &dir, e))?;
        } else if !dir.is_dir() {
            return Ok(None);
        }
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o750)
            .open(&lock_path)
            .map_err(|e| io_err("open lock file", &lock_path, e))?;
        lock.lock().map_err(|e| io_err("lock", &lock_path, e))?;
        let dir_handle = File::open(&dir).map_err(|e| io_err("open state directory", &dir, e))?;
        let index = Index::open(&loc.data_dir, &loc.network, &dir, &dir_handle, ranges);
        let mut store = Store {
            dir,
            dir_handle,
            _lock: lock,
            index,
            changed: false,
            unnamed: None,
            no_tmpfile: false,
            tmp: None,
            tmp_seq: 0,
            finished: false,
        };
        if store.index.needs_rebuild() {
            store.rebuild_index()?;
        }
        Ok(Some(store))
    }

    fn path_of(&self, ip: IpAddr) -> PathBuf {
        self.dir.join(ip.to_string())
    }

    fn read_record(&self, ip: IpAddr) -> Option<Owner> {
        fs::read_to_string(self.path_of(ip))
            .ok()
            .map(|c| Owner::parse(&c))
    }

    /// Every record in the directory, read from disk (the authoritative,
    /// O(n) way). Removes temporary files left by killed processes.
    pub fn scan(&mut self) -> Result<Vec<Record>, CniError> {
        let entries =
            fs::read_dir(&self.dir).map_err(|e| io_err("read state directory", &self.dir, e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_err("read state directory", &self.dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TMP_PREFIX) {
                // We hold the lock: no one else is writing; this is debris.
                if fs::remove_file(entry.path()).is_ok() {
                    self.changed = true;
                }
                continue;
            }
            let Some(ip) = record_name(name) else {
                continue;
            };
            match fs::read_to_string(entry.path()) {
                Ok(content) => out.push(Record {
                    ip,
                    owner: Owner::parse(&content),
                }),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("read record", &entry.path(), e)),
            }
        }
        Ok(out)
    }

    fn rebuild_index(&mut self) -> Result<(), CniError> {
        let records = self.scan()?;
        self.index.rebuild(&records);
        self.changed = true; // re-stamp even if nothing else changes
        Ok(())
    }

    /// The records of a container's interface, checked against the files:
    /// `exact` say `<id>\r\n<ifname>`; `legacy` hold only `<id>` (written by
    /// reference versions that predate interface names).
    pub fn owned(&mut self, container_id: &str, ifname: &str) -> Result<Owned, CniError> {
        let candidates = match self.index.lookup(container_id) {
            Some(c) => c,
            None => self
                .scan()?
                .into_iter()
                .filter(|r| r.owner.container_id == container_id)
                .collect(),
        };
        let mut owned = Owned::default();
        for r in candidates {
            // The index may be behind: believe the file.
            if self.read_record(r.ip).as_ref() != Some(&r.owner) {
                self.index.forget(r.ip, &r.owner);
                continue;
            }
            match &r.owner.ifname {
                Some(i) if i == ifname => owned.exact.push(r),
                None => owned.legacy.push(r),
                Some(_) => {}
            }
        }
        Ok(owned)
    }

    /// Replace the index's view with `records` (after a full scan).
    pub fn reindex(&mut self, records: &[Record]) {
        self.index.rebuild(records);
        self.changed = true;
    }

    /// Whether the index keeps a free-address map for this range.
    pub fn has_map(&self, set: usize, range: usize) -> bool {
        self.index.has_map(set, range)
    }

    /// Whether the index believes `ip` (in range `range` of set `set`) is
    /// taken; `false` when it cannot tell. A hint only: reserving decides.
    pub fn next_free_hint(
        &mut self,
        set: usize,
        range: usize,
        from: u128,
        to: u128,
    ) -> Option<u128> {
        self.index.next_free(set, range, from, to)
    }

    /// Take `ip` for `owner` if no one holds it. Never leaves a partial
    /// record behind.
    pub fn reserve(&mut self, ip: IpAddr, owner: &Owner) -> Result<bool, CniError> {
        let target = self.path_of(ip);
        let taken = match self.reserve_unnamed(ip, owner, &target)? {
            Some(taken) => taken,
            None => self.reserve_named(ip, owner, &target)?,
        };
        if taken {
            self.changed = true;
            self.index.add(ip, owner);
        } else {
            self.index.mark_used(ip);
        }
        Ok(taken)
    }

    /// Write the record to an unnamed file and link it into place. `None`
    /// when the filesystem cannot do that.
    fn reserve_unnamed(
        &mut self,
        ip: IpAddr,
        owner: &Owner,
        target: &Path,
    ) -> Result<Option<bool>, CniError> {
        if self.no_tmpfile {
            return Ok(None);
        }
        let content = owner.record();
        let file = match &self.unnamed {
            Some((f, c)) if *c == content => f,
            _ => {
                let opened = OpenOptions::new()
                    .write(true)
                    .custom_flags(nix::libc::O_TMPFILE)
                    .mode(0o600)
                    .open(&self.dir)
                    .and_then(|mut f| f.write_all(content.as_bytes()).map(|()| f));
                match opened {
                    Ok(f) => &self.unnamed.insert((f, content)).0,
                    Err(e) if matches!(e.raw_os_error(), Some(21 | 22 | 95)) => {
                        // EISDIR/EINVAL (kernel or filesystem without
                        // O_TMPFILE), EOPNOTSUPP.
                        self.no_tmpfile = true;
                        return Ok(None);
                    }
                    Err(e) => return Err(io_err("create record", target, e)),
                }
            }
        };
        let name = ip.to_string();
        let linked = nix::unistd::linkat(
            file,
            "",
            &self.dir_handle,
            name.as_str(),
            AtFlags::AT_EMPTY_PATH,
        );
        match linked {
            Ok(()) => {
                // That inode is the record now; the next one needs its own.
                self.unnamed = None;
                Ok(Some(true))
            }
            Err(Errno::EEXIST) => Ok(Some(false)),
            Err(
                Errno::EPERM | Errno::ENOENT | Errno::EOPNOTSUPP | Errno::EXDEV | Errno::EMLINK,
            ) => {
                self.no_tmpfile = true;
                self.unnamed = None;
                Ok(None)
            }
            Err(e) => Err(io_err("reserve", target, e.into())),
        }
    }

    /// Write the record under a temporary name and hard-link it into place.
    fn reserve_named(
        &mut self,
        ip: IpAddr,
        owner: &Owner,
        target: &Path,
    ) -> Result<bool, CniError> {
        let content = owner.record();
        let tmp = match &self.tmp {
            Some((path, c)) if *c == content => path.clone(),
            _ => self.write_tmp(&content)?,
        };
        match fs::hard_link(&tmp, target) {
            Ok(()) => {
                // The temporary name now shares the record's inode: drop it,
                // so the next reservation gets a file of its own.
                let _ = fs::remove_file(&tmp);
                self.tmp = None;
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            // Filesystems without hard links: exclusive create, then write.
            Err(e) if matches!(e.raw_os_error(), Some(1 | 18 | 31 | 95)) => {
                self.reserve_excl(ip, owner, target)
            }
            Err(e) => Err(io_err("reserve", target, e)),
        }
    }

    fn reserve_excl(&mut self, ip: IpAddr, owner: &Owner, target: &Path) -> Result<bool, CniError> {
        let mut f = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(target)
        {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                self.index.mark_used(ip);
                return Ok(false);
            }
            Err(e) => return Err(io_err("reserve", target, e)),
        };
        self.changed = true;
        if let Err(e) = f
            .write_all(owner.record().as_bytes())
            .and_then(|()| f.sync_data())
        {
            let _ = fs::remove_file(target);
            return Err(io_err("write record", target, e));
        }
        self.index.add(ip, owner);
        Ok(true)
    }

    fn write_tmp(&mut self, content: &str) -> Result<PathBuf, CniError> {
        self.tmp_seq += 1;
        let path = self.dir.join(format!(
            "{TMP_PREFIX}{}-{}",
            std::process::id(),
            self.tmp_seq
        ));
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io_err("create temporary record", &path, e))?;
        self.changed = true;
        f.write_all(content.as_bytes())
            .map_err(|e| io_err("write temporary record", &path, e))?;
        self.tmp = Some((path.clone(), content.to_string()));
        Ok(path)
    }

    /// Remove `record` if the file still says what it said.
    pub fn release(&mut self, record: &Record) -> Result<(), CniError> {
        if self.read_record(record.ip).as_ref() == Some(&record.owner) {
            self.unlink(record.ip)?;
        }
        self.index.forget(record.ip, &record.owner);
        Ok(())
    }

    /// Remove a record whatever it says (GC, which also removes unparsable
    /// records).
    pub fn remove(&mut self, record: &Record) -> Result<(), CniError> {
        self.unlink(record.ip)?;
        self.index.forget(record.ip, &record.owner);
        Ok(())
    }

    fn unlink(&mut self, ip: IpAddr) -> Result<(), CniError> {
        let path = self.path_of(ip);
        match fs::remove_file(&path) {
            Ok(()) => self.changed = true,
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("release", &path, e)),
        }
        Ok(())
    }

    pub fn last_reserved(&self, set: usize) -> Option<IpAddr> {
        let s = fs::read_to_string(self.dir.join(format!("{LAST_RESERVED_PREFIX}{set}"))).ok()?;
        s.trim().parse::<IpAddr>().ok().map(canonical)
    }

    /// Record the round-robin cursor, rewriting the file in place as the
    /// reference does (a file torn by a kill only restarts round robin).
    pub fn set_last_reserved(&mut self, set: usize, ip: IpAddr) -> Result<(), CniError> {
        let target = self.dir.join(format!("{LAST_RESERVED_PREFIX}{set}"));
        self.changed = true;
        crate::index::write_file(&target, ip.to_string().as_bytes())
            .map_err(|e| io_err("write", &target, e))
    }

    /// The addresses of `set` that are in use, counted from the directory
    /// (for free-space questions the index cannot answer).
    pub fn count_in(&mut self, set: &RangeSet) -> Result<u128, CniError> {
        let ips: BTreeSet<IpAddr> = self
            .scan()?
            .into_iter()
            .map(|r| r.ip)
            .filter(|ip| set.contains(*ip))
            .collect();
        Ok(ips.len() as u128)
    }

    /// Finish: remove the temporary file and bring the index up to date.
    pub fn finish(&mut self) -> Result<(), CniError> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        if let Some((tmp, _)) = self.tmp.take() {
            let _ = fs::remove_file(tmp);
        }
        if self.changed {
            self.index.commit(&self.dir_handle);
        }
        Ok(())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// The address a directory entry names, if it is a record.
pub fn record_name(name: &str) -> Option<IpAddr> {
    if name == LOCK_FILE || name.starts_with(LAST_RESERVED_PREFIX) {
        return None;
    }
    name.parse::<IpAddr>().ok().map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_format() {
        let o = Owner::new("abc", "eth0");
        assert_eq!(o.record(), "abc\r\neth0");
        assert_eq!(Owner::parse("abc\r\neth0"), o);
        assert_eq!(Owner::parse("  abc\r\neth0\n"), o);
        assert_eq!(
            Owner::parse("abc\n"),
            Owner {
                container_id: "abc".into(),
                ifname: None
            }
        );
        assert_eq!(
            Owner::parse(""),
            Owner {
                container_id: "".into(),
                ifname: None
            }
        );
    }

    #[test]
    fn record_names() {
        assert_eq!(record_name("10.0.0.2"), Some("10.0.0.2".parse().unwrap()));
        assert_eq!(
            record_name("2001:db8::2"),
            Some("2001:db8::2".parse().unwrap())
        );
        assert_eq!(record_name("lock"), None);
        assert_eq!(record_name("last_reserved_ip.0"), None);
        assert_eq!(record_name(".tmp-1-1"), None);
    }
}
