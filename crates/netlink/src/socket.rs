use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{Socket as RawSocket, SocketAddr, protocols::NETLINK_ROUTE};
use nix::errno::Errno;
use nix::libc;

use crate::{Error, Result};

/// Attempts at a dump the kernel keeps marking as interrupted.
const DUMP_ATTEMPTS: usize = 5;
/// Initial receive buffer; grows when a reply is larger.
const RECV_BUFFER: usize = 64 * 1024;
/// NLM_F_ACK_TLVS: the error message carries extended-ack attributes.
const NLM_F_ACK_TLVS: u16 = 0x200;
/// NLM_F_CAPPED: the error message echoes only the request's header.
const NLM_F_CAPPED: u16 = 0x100;
/// NLMSGERR_ATTR_MSG: the kernel's error string.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// A NETLINK_ROUTE socket bound to the namespace it was opened in.
pub struct Socket {
    sock: RawSocket,
    seq: u32,
    buf: Vec<u8>,
}

/// How a reply ended.
enum Exchange {
    Done(Vec<RouteNetlinkMessage>),
    /// The kernel marked the dump inconsistent: do it again.
    Interrupted,
    /// A datagram was larger than the buffer, which has now grown.
    Truncated,
}

/// A netlink socket of `protocol` in the calling thread's namespace, bound
/// and connected to the kernel, whose errors echo only our header and carry
/// the kernel's message; `name` goes into error messages ("open <name>
/// socket"). Shared with the nf_tables socket.
pub fn open_raw(protocol: isize, name: &str) -> Result<RawSocket> {
    let mut sock =
        RawSocket::new(protocol).map_err(|e| Error::io(format!("open {name} socket"), e))?;
    sock.bind_auto()
        .map_err(|e| Error::io(format!("bind {name} socket"), e))?;
    let _ = sock.set_cap_ack(true);
    let _ = sock.set_ext_ack(true);
    sock.connect(&SocketAddr::new(0, 0))
        .map_err(|e| Error::io(format!("connect {name} socket"), e))?;
    Ok(sock)
}

impl Socket {
    /// A socket in the calling thread's namespace.
    pub fn new() -> Result<Socket> {
        let sock = open_raw(NETLINK_ROUTE, "netlink")?;
        // Kernel-side filtering of dumps (by ifindex, family) where supported;
        // results are filtered here too, so older kernels only cost time.
        let _ = sock.set_netlink_get_strict_chk(true);
        Ok(Socket {
            sock,
            seq: 0,
            buf: Vec::with_capacity(RECV_BUFFER),
        })
    }

    /// A socket in `ns`, opened by briefly entering it on this thread.
    pub fn new_in(ns: &netns::NetNs) -> Result<Socket> {
        ns.run(Socket::new)?
    }

    /// Send a request that changes something and wait for the kernel's ACK.
    pub fn change(&mut self, what: &str, msg: RouteNetlinkMessage, flags: u16) -> Result<()> {
        match self.exchange(what, msg, flags | NLM_F_ACK)? {
            Exchange::Done(_) => Ok(()),
            Exchange::Interrupted | Exchange::Truncated => Err(Error::protocol(
                what,
                "reply to a change request did not fit",
            )),
        }
    }

    /// A GET for one object: its reply message.
    pub fn get(&mut self, what: &str, msg: RouteNetlinkMessage) -> Result<RouteNetlinkMessage> {
        loop {
            match self.exchange(what, msg.clone(), 0)? {
                Exchange::Done(mut v) => {
                    return v.pop().ok_or_else(|| Error::protocol(what, "empty reply"));
                }
                // A GET is idempotent: ask again with the bigger buffer.
                Exchange::Truncated | Exchange::Interrupted => continue,
            }
        }
    }

    /// A dump, retried while the kernel reports it interrupted.
    pub fn dump(
        &mut self,
        what: &str,
        msg: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let mut attempts = 0;
        loop {
            match self.exchange(what, msg.clone(), NLM_F_DUMP)? {
                Exchange::Done(v) => return Ok(v),
                Exchange::Truncated => continue,
                Exchange::Interrupted => {
                    attempts += 1;
                    if attempts >= DUMP_ATTEMPTS {
                        return Err(Error::Kernel {
                            what: what.to_string(),
                            errno: Errno::EINTR,
                            message: Some(format!("dump interrupted {DUMP_ATTEMPTS} times")),
                        });
                    }
                }
            }
        }
    }

    /// Serialise a request as it would be sent with sequence number `seq`.
    pub fn encode(msg: RouteNetlinkMessage, flags: u16, seq: u32) -> Vec<u8> {
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut bytes = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut bytes);
        bytes
    }

    fn exchange(&mut self, what: &str, msg: RouteNetlinkMessage, flags: u16) -> Result<Exchange> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let bytes = Socket::encode(msg, flags, seq);
        self.sock.send(&bytes, 0).map_err(|e| Error::io(what, e))?;

        let multi = flags & NLM_F_DUMP == NLM_F_DUMP;
        let acked = flags & NLM_F_ACK != 0;
        let mut out = Vec::new();
        let mut interrupted = false;
        let mut truncated = false;
        loop {
            self.buf.clear();
            let n = self
                .sock
                .recv(&mut self.buf, libc::MSG_TRUNC)
                .map_err(|e| Error::io(what, e))?;
            if n > self.buf.capacity() {
                // The rest of this datagram is lost. Drain the reply, then let
                // the caller decide whether the request can be repeated.
                self.buf.reserve(n);
                truncated = true;
                if !multi {
                    return Ok(Exchange::Truncated);
                }
                continue;
            }
            let mut offset = 0;
            while offset < n {
                let packet =
                    NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[offset..n])
                        .map_err(|e| Error::protocol(what, e.to_string()))?;
                let len = packet.header.length as usize;
                if len == 0 {
                    return Err(Error::protocol(what, "zero-length message"));
                }
                offset += (len + 3) & !3;
                if packet.header.sequence_number != seq {
                    continue; // a late reply to an earlier request
                }
                if packet.header.flags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                match packet.payload {
                    NetlinkPayload::InnerMessage(m) => {
                        out.push(m);
                        if !multi && !acked {
                            return Ok(Exchange::Done(out));
                        }
                    }
                    NetlinkPayload::Error(e) if e.code.is_none() => return Ok(Exchange::Done(out)),
                    NetlinkPayload::Error(e) => {
                        return Err(Error::Kernel {
                            what: what.to_string(),
                            errno: Errno::from_raw(-e.raw_code()),
                            message: ext_ack_message(packet.header.flags, &e.header),
                        });
                    }
                    NetlinkPayload::Done(d) => {
                        if d.code < 0 {
                            return Err(Error::Kernel {
                                what: what.to_string(),
                                errno: Errno::from_raw(-d.code),
                                message: None,
                            });
                        }
                        return Ok(if truncated {
                            Exchange::Truncated
                        } else if interrupted {
                            Exchange::Interrupted
                        } else {
                            Exchange::Done(out)
                        });
                    }
                    NetlinkPayload::Noop => {}
                    NetlinkPayload::Overrun(_) => return Err(Error::protocol(what, "overrun")),
                    _ => return Err(Error::protocol(what, "unknown message type")),
                }
            }
        }
    }
}

/// The kernel's extended-ack error string, if the error carries one (any
/// netlink family; nf_tables uses it too). The
/// payload is the echoed request (only its 16-byte header when capped, the
/// whole request otherwise) followed by attributes.
pub fn ext_ack_message(flags: u16, payload: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 || payload.len() < 16 {
        return None;
    }
    let echoed = if flags & NLM_F_CAPPED != 0 {
        16
    } else {
        u32::from_ne_bytes(payload[0..4].try_into().ok()?) as usize
    };
    let mut attrs = payload.get((echoed + 3) & !3..)?;
    while attrs.len() >= 4 {
        let len = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
        let kind = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
        if len < 4 || len > attrs.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let text = &attrs[4..len];
            let end = text.iter().position(|b| *b == 0).unwrap_or(text.len());
            return Some(String::from_utf8_lossy(&text[..end]).into_owned())
                .filter(|s| !s.is_empty());
        }
        attrs = attrs.get((len + 3) & !3..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ext_ack_parsing() {
        // Capped echo of a 16-byte header, then NLMSGERR_ATTR_MSG "Invalid MTU".
        let mut p = vec![0u8; 16];
        let msg = b"Invalid MTU\0";
        p.extend_from_slice(&((4 + msg.len()) as u16).to_ne_bytes());
        p.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        p.extend_from_slice(msg);
        assert_eq!(
            ext_ack_message(NLM_F_ACK_TLVS | NLM_F_CAPPED, &p).as_deref(),
            Some("Invalid MTU")
        );
        assert_eq!(ext_ack_message(NLM_F_CAPPED, &p), None);
        assert_eq!(
            ext_ack_message(NLM_F_ACK_TLVS | NLM_F_CAPPED, &p[..18]),
            None
        );
    }
}
