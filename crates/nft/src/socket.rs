//! The NETLINK_NETFILTER socket.

use netlink_sys::Socket as RawSocket;
use nix::errno::Errno;
use nix::libc;

use crate::Family;
use crate::attr::{self, Attrs};
use crate::batch::{Batch, MSG_GETCHAIN, MSG_GETRULE, MSG_GETTABLE, SUBSYS_NFTABLES};
use crate::expr::{Verdict, comment_from_userdata};

pub use netlink::Error;

type Result<T> = std::result::Result<T, Error>;

const NETLINK_NETFILTER: isize = 12;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_DUMP_INTR: u16 = 0x10;
const BATCH_BEGIN: u16 = 0x10;
const BATCH_END: u16 = 0x11;
const RECV_BUFFER: usize = 64 * 1024;

/// A rule as listed from the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub table: String,
    pub chain: String,
    pub handle: u64,
    pub comment: Option<String>,
    /// The names of its expressions, in order (`payload`, `cmp`, ...).
    pub exprs: Vec<String>,
    /// Its verdicts (`immediate` expressions writing the verdict register).
    pub verdicts: Vec<Verdict>,
}

impl Rule {
    /// Whether the rule jumps or goes to `chain`.
    pub fn targets(&self, chain: &str) -> bool {
        self.verdicts
            .iter()
            .any(|v| matches!(v, Verdict::Jump(c) | Verdict::Goto(c) if c == chain))
    }
}

/// A NETLINK_NETFILTER socket in the namespace it was opened in.
pub struct Socket {
    sock: RawSocket,
    seq: u32,
    buf: Vec<u8>,
}

struct Header {
    len: usize,
    kind: u16,
    flags: u16,
    seq: u32,
}

fn header(b: &[u8]) -> Option<Header> {
    let len = u32::from_ne_bytes(b.get(0..4)?.try_into().ok()?) as usize;
    Some(Header {
        len,
        kind: u16::from_ne_bytes(b.get(4..6)?.try_into().ok()?),
        flags: u16::from_ne_bytes(b.get(6..8)?.try_into().ok()?),
        seq: u32::from_ne_bytes(b.get(8..12)?.try_into().ok()?),
    })
}

fn push_message(out: &mut Vec<u8>, kind: u16, flags: u16, seq: u32, body: &[u8]) {
    out.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(body);
}

fn nft_type(kind: u16) -> u16 {
    (SUBSYS_NFTABLES << 8) | kind
}

impl Socket {
    pub fn new() -> Result<Socket> {
        let sock = netlink::open_raw(NETLINK_NETFILTER, "nf_tables")?;
        Ok(Socket {
            sock,
            seq: 0,
            buf: Vec::with_capacity(RECV_BUFFER),
        })
    }

    /// A socket acting on `ns` (opened there, used from anywhere).
    pub fn new_in(ns: &netns::NetNs) -> Result<Socket> {
        ns.run(Socket::new)?
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn recv(&mut self, what: &str, flags: i32) -> Result<Option<usize>> {
        self.buf.clear();
        match self.sock.recv(&mut self.buf, flags | libc::MSG_TRUNC) {
            Ok(n) if n > self.buf.capacity() => {
                self.buf.reserve(n);
                Err(Error::protocol(
                    what,
                    "reply larger than the receive buffer",
                ))
            }
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(Error::io(what, e)),
        }
    }

    fn kernel_error(what: &str, flags: u16, payload: &[u8]) -> Option<Error> {
        let code = i32::from_ne_bytes(payload.get(0..4)?.try_into().ok()?);
        (code != 0).then(|| Error::Kernel {
            what: what.to_string(),
            errno: Errno::from_raw(-code),
            message: netlink::ext_ack_message(flags, &payload[4..]),
        })
    }

    /// Apply a batch: every change or none.
    pub fn apply(&mut self, batch: &Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut out = Vec::with_capacity(256 * (batch.len() + 2));
        let begin = Attrs::new(0, SUBSYS_NFTABLES);
        let first = self.next_seq();
        push_message(&mut out, BATCH_BEGIN, NLM_F_REQUEST, first, &begin.buf);
        let mut seqs = Vec::with_capacity(batch.len());
        for m in &batch.msgs {
            let seq = self.next_seq();
            seqs.push(seq);
            push_message(
                &mut out,
                nft_type(m.kind),
                NLM_F_REQUEST | NLM_F_ACK | m.flags,
                seq,
                &m.body,
            );
        }
        let end_seq = self.next_seq();
        push_message(&mut out, BATCH_END, NLM_F_REQUEST, end_seq, &begin.buf);
        self.sock
            .send(&out, 0)
            .map_err(|e| Error::io("send nf_tables batch", e))?;

        // The kernel processes the batch while we send it, so every answer
        // is queued by now: read them without blocking.
        let mut first_error: Option<(usize, Error)> = None;
        let mut answered = 0;
        while answered < seqs.len() {
            let Some(n) = self.recv(
                "apply nf_tables batch",
                if answered == 0 { 0 } else { libc::MSG_DONTWAIT },
            )?
            else {
                break;
            };
            let mut off = 0;
            while off + 16 <= n {
                let Some(h) = header(&self.buf[off..n]) else {
                    break;
                };
                if h.len < 16 || off + h.len > n {
                    break;
                }
                if h.kind == NLMSG_ERROR {
                    let payload = &self.buf[off + 16..off + h.len];
                    let index = seqs.iter().position(|s| *s == h.seq);
                    if index.is_some() {
                        answered += 1;
                    }
                    let what =
                        index.map_or("commit nf_tables batch", |i| batch.msgs[i].what.as_str());
                    if let Some(e) = Socket::kernel_error(what, h.flags, payload) {
                        let at = index.unwrap_or(usize::MAX);
                        if first_error.as_ref().is_none_or(|(i, _)| at < *i) {
                            first_error = Some((at, e));
                        }
                    }
                }
                off += (h.len + 3) & !3;
            }
        }
        match first_error {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    /// An nf_tables GET or dump request; the bodies of the answers.
    fn query(&mut self, what: &str, kind: u16, dump: bool, body: &Attrs) -> Result<Vec<Vec<u8>>> {
        self.request(what, nft_type(kind), dump, body)
    }

    /// A netfilter request of message type `msg_type` (subsystem << 8 |
    /// kind), dumped or acknowledged; the bodies of the answers.
    pub(crate) fn request(
        &mut self,
        what: &str,
        msg_type: u16,
        dump: bool,
        body: &Attrs,
    ) -> Result<Vec<Vec<u8>>> {
        for _ in 0..5 {
            let seq = self.next_seq();
            let mut out = Vec::new();
            let flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { NLM_F_ACK };
            push_message(&mut out, msg_type, flags, seq, &body.buf);
            self.sock.send(&out, 0).map_err(|e| Error::io(what, e))?;
            let mut answers = Vec::new();
            let mut interrupted = false;
            'recv: loop {
                let Some(n) = self.recv(what, 0)? else {
                    continue;
                };
                let mut off = 0;
                while off + 16 <= n {
                    let Some(h) = header(&self.buf[off..n]) else {
                        break;
                    };
                    if h.len < 16 || off + h.len > n {
                        break;
                    }
                    let payload = &self.buf[off + 16..off + h.len];
                    off += (h.len + 3) & !3;
                    if h.seq != seq {
                        continue;
                    }
                    interrupted |= h.flags & NLM_F_DUMP_INTR != 0;
                    match h.kind {
                        NLMSG_ERROR => match Socket::kernel_error(what, h.flags, payload) {
                            Some(e) => return Err(e),
                            None => break 'recv,
                        },
                        NLMSG_DONE => break 'recv,
                        _ => {
                            answers.push(payload.to_vec());
                            if !dump {
                                // The ACK follows; keep reading for it.
                            }
                        }
                    }
                }
            }
            if !interrupted {
                return Ok(answers);
            }
        }
        Err(Error::Kernel {
            what: what.to_string(),
            errno: Errno::EINTR,
            message: Some("dump interrupted 5 times".into()),
        })
    }

    pub fn table_exists(&mut self, family: Family, table: &str) -> Result<bool> {
        let mut a = Attrs::new(family.code(), 0);
        a.str(1, table);
        match self.query(&format!("get table {table}"), MSG_GETTABLE, false, &a) {
            Ok(_) => Ok(true),
            Err(e) if e.errno() == Some(Errno::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub fn chain_exists(&mut self, family: Family, table: &str, chain: &str) -> Result<bool> {
        let mut a = Attrs::new(family.code(), 0);
        a.str(1, table).str(3, chain);
        match self.query(
            &format!("get chain {table} {chain}"),
            MSG_GETCHAIN,
            false,
            &a,
        ) {
            Ok(_) => Ok(true),
            Err(e) if e.errno() == Some(Errno::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The rules of a chain, in order; none if the table or chain does not exist.
    pub fn rules(&mut self, family: Family, table: &str, chain: &str) -> Result<Vec<Rule>> {
        let mut a = Attrs::new(family.code(), 0);
        a.str(1, table).str(2, chain);
        let what = format!("list rules of {table} {chain}");
        let answers = match self.query(&what, MSG_GETRULE, true, &a) {
            Ok(a) => a,
            Err(e) if e.errno() == Some(Errno::ENOENT) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut rules = Vec::new();
        for body in answers {
            let Some(attrs) = body.get(4..) else { continue };
            let rule_table = attr::get(attrs, 1).map(attr::as_str).unwrap_or_default();
            let rule_chain = attr::get(attrs, 2).map(attr::as_str).unwrap_or_default();
            if rule_table != table || rule_chain != chain {
                continue; // kernels that ignore the dump filter
            }
            let Some(handle) = attr::get(attrs, 3).and_then(attr::as_u64) else {
                continue;
            };
            let comment = attr::get(attrs, 7).and_then(comment_from_userdata);
            let mut exprs = Vec::new();
            let mut verdicts = Vec::new();
            for (_, elem) in attr::parse(attr::get(attrs, 4).unwrap_or_default()) {
                let name = attr::get(elem, 1).map(attr::as_str).unwrap_or_default();
                if name == "immediate"
                    && let Some(v) = attr::get(elem, 2)
                        .and_then(|d| attr::get(d, 2))
                        .and_then(|d| attr::get(d, 2))
                        .and_then(|v| {
                            let code = attr::get(v, 1).and_then(attr::as_u32)? as i32;
                            Verdict::from_code(code, attr::get(v, 2).map(attr::as_str))
                        })
                {
                    verdicts.push(v);
                }
                exprs.push(name);
            }
            rules.push(Rule {
                table: rule_table,
                chain: rule_chain,
                handle,
                comment,
                exprs,
                verdicts,
            });
        }
        Ok(rules)
    }
}
