//! The index: a cache beside the state directory that answers "which
//! records does this container have" and "where is the next free address"
//! without reading every record, which is what the reference does on each
//! ADD and DEL.
//!
//! It lives in `<dataDir>/.<network>.hl-index/`, outside the network
//! directory, so the directory itself stays exactly what the reference
//! writes and reads:
//!
//! * `keys-00` .. `keys-ff`: records bucketed by a hash of the container ID,
//!   one line each: `<address> <containerID> [<ifname>]`;
//! * `bits-<hash>`: one per configured range of up to 2^24 addresses, a bit
//!   per address, set when a record exists;
//! * `stamp`: the directory (device, inode, mtime) the index describes.
//!
//! Validity: after each change, the network directory's mtime is set to a
//! precise, freshly taken nanosecond time, and that value goes into `stamp`.
//! Any later create, delete or rename in the directory — by the reference
//! plugin, a person, or a process of ours killed half way — makes the kernel
//! set a new mtime, which no longer matches, and the next run rebuilds the
//! index from the directory. On a filesystem that cannot keep nanosecond
//! times the index turns itself off (a `no-index` marker) and every
//! operation works the reference's way.
//!
//! Everything the index says is a hint checked against the files where it
//! matters: a record it names is read before it is trusted or removed, and
//! a "free" address is only taken by an exclusive create.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::range::{Range, RangeSet};
use crate::store::{Owner, Record, record_name};

const BUCKETS: usize = 256;
/// Ranges up to this many addresses get a bitmap (2 MiB at most).
const MAX_BITMAP_BITS: u128 = 1 << 24;
const BITMAP_MAGIC: &[u8; 8] = b"hlbits01";
const HEADER: u64 = 32;
const STAMP_MAGIC: &str = "hl-index 1";

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn bucket_of(container_id: &str) -> usize {
    (fnv1a(container_id.as_bytes()) % BUCKETS as u64) as usize
}

fn mtime_ns(m: &fs::Metadata) -> i128 {
    i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec())
}

/// Whether an owner can be written to (and found in) a bucket line.
fn indexable(o: &Owner) -> bool {
    cni::is_valid_name(&o.container_id)
        && o.ifname
            .as_ref()
            .is_none_or(|i| !i.is_empty() && !i.chars().any(char::is_whitespace))
}

#[derive(Default)]
struct Bucket {
    entries: Vec<(IpAddr, Owner)>,
    dirty: bool,
}

impl Bucket {
    fn parse(text: &str) -> Option<Bucket> {
        let mut entries = Vec::new();
        for line in text.lines() {
            let mut f = line.split(' ');
            let ip = f.next()?.parse::<IpAddr>().ok()?;
            let container_id = f.next()?.to_string();
            let ifname = f.next().map(str::to_string);
            if f.next().is_some() {
                return None;
            }
            entries.push((
                ip,
                Owner {
                    container_id,
                    ifname,
                },
            ));
        }
        Some(Bucket {
            entries,
            dirty: false,
        })
    }

    fn render(&self) -> String {
        let mut s = String::with_capacity(self.entries.len() * 96);
        for (ip, o) in &self.entries {
            s.push_str(&ip.to_string());
            s.push(' ');
            s.push_str(&o.container_id);
            if let Some(i) = &o.ifname {
                s.push(' ');
                s.push_str(i);
            }
            s.push('\n');
        }
        s
    }
}

/// A configured range's bitmap.
struct Bitmap {
    path: PathBuf,
    range: Range,
    /// Header said it matched the stamp when the index was opened.
    valid_on_disk: bool,
    /// Loaded words (None until needed).
    words: Option<Vec<u64>>,
    dirty_words: Vec<usize>,
    /// Rebuilt: write the whole file.
    rewrite: bool,
}

impl Bitmap {
    fn words_for(size: u128) -> usize {
        size.div_ceil(64) as usize
    }

    fn set(&mut self, offset: u128, used: bool) {
        if let Some(words) = &mut self.words {
            let (w, b) = ((offset / 64) as usize, offset % 64);
            if let Some(word) = words.get_mut(w) {
                let old = *word;
                if used {
                    *word |= 1 << b;
                } else {
                    *word &= !(1 << b);
                }
                if *word != old && !self.rewrite {
                    self.dirty_words.push(w);
                }
            }
        }
    }

    /// The first clear bit in `from..=to`.
    fn next_clear(&self, from: u128, to: u128) -> Option<u128> {
        let words = self.words.as_ref()?;
        let mut i = from;
        while i <= to {
            let w = (i / 64) as usize;
            let word = *words.get(w)? | ((1u64 << (i % 64)) - 1); // bits before `i` count as used
            if word != u64::MAX {
                let found = w as u128 * 64 + u128::from((!word).trailing_zeros());
                return (found <= to).then_some(found);
            }
            i = (w as u128 + 1) * 64;
        }
        None
    }
}

pub struct Index {
    /// `None`: disabled; the store works the reference's way.
    root: Option<PathBuf>,
    network_dir: PathBuf,
    /// The stamp matched the directory when opened (or a rebuild happened).
    valid: bool,
    stamp_mtime: i128,
    buckets: Vec<Option<Bucket>>,
    /// Per range set, per range: a bitmap if the range is small enough.
    maps: Vec<Vec<Option<Bitmap>>>,
}

impl Index {
    pub fn open(
        data_dir: &Path,
        network: &str,
        network_dir: &Path,
        dir_handle: &File,
        ranges: &[RangeSet],
    ) -> Index {
        let mut idx = Index {
            root: None,
            network_dir: network_dir.to_path_buf(),
            valid: false,
            stamp_mtime: 0,
            buckets: (0..BUCKETS).map(|_| None).collect(),
            maps: Vec::new(),
        };
        let root = data_dir.join(format!(".{network}.hl-index"));
        match DirBuilder::new().mode(0o700).create(&root) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(_) => return idx, // read-only, name too long, ...: no index
        }
        if root.join("no-index").exists() {
            return idx;
        }
        let stamp = fs::read_to_string(root.join("stamp")).unwrap_or_default();
        if let Ok(m) = dir_handle.metadata()
            && let Some(t) = parse_stamp(&stamp, &m)
        {
            idx.valid = true;
            idx.stamp_mtime = t;
        }
        idx.maps = ranges
            .iter()
            .map(|set| {
                set.0
                    .iter()
                    .map(|r| {
                        (r.size() <= MAX_BITMAP_BITS).then(|| {
                            let path =
                                root.join(format!("bits-{:016x}", fnv1a(r.to_string().as_bytes())));
                            let valid_on_disk =
                                idx.valid && header_matches(&path, idx.stamp_mtime, r.size());
                            Bitmap {
                                path,
                                range: r.clone(),
                                valid_on_disk,
                                words: None,
                                dirty_words: Vec::new(),
                                rewrite: false,
                            }
                        })
                    })
                    .collect()
            })
            .collect();
        idx.root = Some(root);
        idx
    }

    pub fn has_map(&self, set: usize, range: usize) -> bool {
        self.root.is_some()
            && self.valid
            && self
                .maps
                .get(set)
                .and_then(|s| s.get(range))
                .is_some_and(Option::is_some)
    }

    pub fn needs_rebuild(&self) -> bool {
        self.root.is_some() && !self.valid
    }

    fn disable(&mut self) {
        self.root = None;
    }

    /// Replace everything with what the directory holds.
    pub fn rebuild(&mut self, records: &[Record]) {
        if self.root.is_none() {
            return;
        }
        for b in &mut self.buckets {
            *b = Some(Bucket {
                entries: Vec::new(),
                dirty: true,
            });
        }
        for r in records.iter().filter(|r| indexable(&r.owner)) {
            if let Some(b) = &mut self.buckets[bucket_of(&r.owner.container_id)] {
                b.entries.push((r.ip, r.owner.clone()));
            }
        }
        let ips: Vec<IpAddr> = records.iter().map(|r| r.ip).collect();
        for map in self.maps.iter_mut().flatten().flatten() {
            fill(map, &ips);
        }
        self.valid = true;
    }

    fn bucket(&mut self, container_id: &str) -> Option<&mut Bucket> {
        let root = self.root.as_ref()?;
        if !self.valid {
            return None;
        }
        let i = bucket_of(container_id);
        if self.buckets[i].is_none() {
            let text = match fs::read_to_string(root.join(format!("keys-{i:02x}"))) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(_) => String::new(),
            };
            match Bucket::parse(&text) {
                Some(b) => self.buckets[i] = Some(b),
                None => {
                    // A damaged bucket: stop trusting the index; it will be
                    // rebuilt after this run (the stamp is dropped).
                    self.valid = false;
                    if let Some(root) = &self.root {
                        let _ = fs::remove_file(root.join("stamp"));
                    }
                    self.disable();
                    return None;
                }
            }
        }
        self.buckets[i].as_mut()
    }

    /// The indexed records of a container, or `None` if the index cannot say.
    pub fn lookup(&mut self, container_id: &str) -> Option<Vec<Record>> {
        let b = self.bucket(container_id)?;
        Some(
            b.entries
                .iter()
                .filter(|(_, o)| o.container_id == container_id)
                .map(|(ip, o)| Record {
                    ip: *ip,
                    owner: o.clone(),
                })
                .collect(),
        )
    }

    pub fn add(&mut self, ip: IpAddr, owner: &Owner) {
        if indexable(owner)
            && let Some(b) = self.bucket(&owner.container_id)
        {
            b.entries.push((ip, owner.clone()));
            b.dirty = true;
        }
        self.set_bit(ip, true);
    }

    pub fn forget(&mut self, ip: IpAddr, owner: &Owner) {
        if indexable(owner)
            && let Some(b) = self.bucket(&owner.container_id)
        {
            let before = b.entries.len();
            b.entries.retain(|(i, o)| !(*i == ip && o == owner));
            b.dirty |= b.entries.len() != before;
        }
        self.set_bit(ip, false);
    }

    pub fn mark_used(&mut self, ip: IpAddr) {
        self.set_bit(ip, true);
    }

    fn set_bit(&mut self, ip: IpAddr, used: bool) {
        if self.root.is_none() {
            return;
        }
        let dir = self.network_dir.clone();
        for map in self.maps.iter_mut().flatten().flatten() {
            if map.range.contains(ip) {
                if load(map, &dir) {
                    let off = map.range.offset_of(ip);
                    map.set(off, used);
                }
                return;
            }
        }
    }

    /// The first offset in `from..=to` of range `range` in set `set` that
    /// the index believes free; `Some(from)` when it cannot tell.
    pub fn next_free(&mut self, set: usize, range: usize, from: u128, to: u128) -> Option<u128> {
        if self.root.is_none() || !self.valid {
            return Some(from);
        }
        let dir = self.network_dir.clone();
        match self
            .maps
            .get_mut(set)
            .and_then(|s| s.get_mut(range))
            .and_then(Option::as_mut)
        {
            Some(map) => {
                if load(map, &dir) {
                    map.next_clear(from, to)
                } else {
                    Some(from)
                }
            }
            None => Some(from),
        }
    }

    /// Stamp the directory and write what changed. Failures only cost the
    /// next run a rebuild.
    pub fn commit(&mut self, dir_handle: &File) {
        let Some(root) = self.root.clone() else {
            return;
        };
        if !self.valid {
            let _ = fs::remove_file(root.join("stamp"));
            return;
        }
        // The directory's new mtime goes first: until the stamp below is
        // written, the old stamp no longer matches, so a crash half way
        // through only costs a rebuild.
        let now = SystemTime::now();
        if dir_handle.set_modified(now).is_err() {
            return;
        }
        let Ok(meta) = dir_handle.metadata() else {
            return;
        };
        let wanted = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        let stamped = mtime_ns(&meta);
        if stamped != wanted {
            // This filesystem rounds times: the index cannot tell whether
            // someone else changed the directory. Turn it off for good.
            let _ = File::create(root.join("no-index"));
            return;
        }
        for (i, b) in self.buckets.iter().enumerate() {
            if let Some(b) = b.as_ref().filter(|b| b.dirty)
                && write_file(&root.join(format!("keys-{i:02x}")), b.render().as_bytes()).is_err()
            {
                return;
            }
        }
        for map in self.maps.iter().flatten().flatten() {
            if write_bitmap(map, self.stamp_mtime, stamped).is_err() {
                return;
            }
        }
        let stamp = format!("{STAMP_MAGIC} {} {} {stamped}\n", meta.dev(), meta.ino());
        let _ = write_file(&root.join("stamp"), stamp.as_bytes());
    }
}

fn parse_stamp(text: &str, dir: &fs::Metadata) -> Option<i128> {
    let rest = text.strip_prefix(STAMP_MAGIC)?.trim();
    let mut f = rest.split(' ');
    let dev: u64 = f.next()?.parse().ok()?;
    let ino: u64 = f.next()?.parse().ok()?;
    let mtime: i128 = f.next()?.parse().ok()?;
    (dev == dir.dev() && ino == dir.ino() && mtime == mtime_ns(dir)).then_some(mtime)
}

fn read_header(path: &Path) -> Option<(i128, u64)> {
    let f = File::open(path).ok()?;
    let mut h = [0u8; HEADER as usize];
    f.read_exact_at(&mut h, 0).ok()?;
    if &h[0..8] != BITMAP_MAGIC {
        return None;
    }
    let stamp = i128::from_le_bytes(h[8..24].try_into().ok()?);
    let bits = u64::from_le_bytes(h[24..32].try_into().ok()?);
    Some((stamp, bits))
}

fn header_matches(path: &Path, stamp: i128, size: u128) -> bool {
    read_header(path).is_some_and(|(s, bits)| s == stamp && u128::from(bits) == size)
}

fn header(stamp: i128, size: u128) -> [u8; HEADER as usize] {
    let mut h = [0u8; HEADER as usize];
    h[0..8].copy_from_slice(BITMAP_MAGIC);
    h[8..24].copy_from_slice(&stamp.to_le_bytes());
    h[24..32].copy_from_slice(&(size as u64).to_le_bytes());
    h
}

/// Make the bitmap's words available: read them if the file is valid,
/// otherwise rebuild them from the directory's names. False if impossible.
fn load(map: &mut Bitmap, network_dir: &Path) -> bool {
    if map.words.is_some() {
        return true;
    }
    let n = Bitmap::words_for(map.range.size());
    if map.valid_on_disk
        && let Ok(f) = File::open(&map.path)
    {
        let mut bytes = vec![0u8; n * 8];
        if f.read_exact_at(&mut bytes, HEADER).is_ok() {
            let words = bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect();
            map.words = Some(words);
            return true;
        }
    }
    // Stale or missing (first use of this range, or the ranges changed):
    // the names in the directory say which addresses are taken.
    let Ok(entries) = fs::read_dir(network_dir) else {
        return false;
    };
    let ips: Vec<IpAddr> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(record_name))
        .collect();
    fill(map, &ips);
    true
}

fn fill(map: &mut Bitmap, ips: &[IpAddr]) {
    let mut words = vec![0u64; Bitmap::words_for(map.range.size())];
    for ip in ips {
        if map.range.contains(*ip) {
            let off = map.range.offset_of(*ip);
            words[(off / 64) as usize] |= 1 << (off % 64);
        }
    }
    map.words = Some(words);
    map.rewrite = true;
    map.dirty_words.clear();
}

fn write_bitmap(map: &Bitmap, old_stamp: i128, new_stamp: i128) -> std::io::Result<()> {
    let size = map.range.size();
    match &map.words {
        Some(words) if map.rewrite => {
            let mut bytes = Vec::with_capacity(HEADER as usize + words.len() * 8);
            bytes.extend_from_slice(&header(new_stamp, size));
            for w in words {
                bytes.extend_from_slice(&w.to_le_bytes());
            }
            write_file(&map.path, &bytes)
        }
        Some(words) => {
            let f = OpenOptions::new().write(true).open(&map.path)?;
            for &w in &map.dirty_words {
                f.write_all_at(&words[w].to_le_bytes(), HEADER + w as u64 * 8)?;
            }
            f.write_all_at(&header(new_stamp, size), 0)
        }
        // Untouched this run: still right if it was right before.
        None if map.valid_on_disk && header_matches(&map.path, old_stamp, size) => {
            let f = OpenOptions::new().write(true).open(&map.path)?;
            f.write_all_at(&header(new_stamp, size), 0)
        }
        None => Ok(()),
    }
}

/// Replace a small file's content in place: cheaper than truncating it to
/// nothing and growing it again, which frees and reallocates its block.
pub fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    f.write_all_at(bytes, 0)?;
    if f.metadata()?.len() != bytes.len() as u64 {
        f.set_len(bytes.len() as u64)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip() {
        let b = Bucket {
            entries: vec![
                ("10.0.0.2".parse().unwrap(), Owner::new("abc", "eth0")),
                (
                    "2001:db8::2".parse().unwrap(),
                    Owner {
                        container_id: "old".into(),
                        ifname: None,
                    },
                ),
            ],
            dirty: false,
        };
        let text = b.render();
        assert_eq!(text, "10.0.0.2 abc eth0\n2001:db8::2 old\n");
        assert_eq!(Bucket::parse(&text).unwrap().entries, b.entries);
        assert!(Bucket::parse("garbage\n").is_none());
        assert!(Bucket::parse("10.0.0.2 a b c\n").is_none());
        assert!(Bucket::parse("").unwrap().entries.is_empty());
    }

    #[test]
    fn bitmap_search() {
        let range = Range::from_conf(&crate::range::RangeConf {
            subnet: "10.0.0.0/24".into(),
            ..Default::default()
        })
        .unwrap();
        let mut m = Bitmap {
            path: PathBuf::new(),
            range,
            valid_on_disk: false,
            words: Some(vec![0; 4]),
            dirty_words: vec![],
            rewrite: false,
        };
        assert_eq!(m.next_clear(0, 253), Some(0));
        for off in 0..130 {
            m.set(off, true);
        }
        assert_eq!(m.next_clear(0, 253), Some(130));
        assert_eq!(m.next_clear(5, 100), None);
        m.set(70, false);
        assert_eq!(m.next_clear(5, 253), Some(70));
        assert_eq!(m.next_clear(71, 253), Some(130));
        assert_eq!(m.next_clear(200, 253), Some(200));
        assert!(!m.dirty_words.is_empty());
    }

    #[test]
    fn stamp_format() {
        let dir = std::env::temp_dir();
        let m = fs::metadata(&dir).unwrap();
        let s = format!("{STAMP_MAGIC} {} {} {}\n", m.dev(), m.ino(), mtime_ns(&m));
        assert_eq!(parse_stamp(&s, &m), Some(mtime_ns(&m)));
        assert_eq!(parse_stamp("hl-index 1 1 2 3\n", &m), None);
        assert_eq!(parse_stamp("", &m), None);
    }
}
