//! Rule expressions, and builders that encode matches as nft(8) 1.0 does.

use std::net::IpAddr;

use ipnetwork::IpNetwork;

use crate::attr::Attrs;

pub const REG_VERDICT: u32 = 0;
pub const REG_1: u32 = 1;
pub const REG_2: u32 = 2;

// NFT_META_* keys.
pub const META_IIFNAME: u32 = 6;
pub const META_OIFNAME: u32 = 7;
pub const META_NFPROTO: u32 = 15;
pub const META_L4PROTO: u32 = 16;

// NFT_PAYLOAD_* bases.
pub const BASE_LL: u32 = 0;
pub const BASE_NETWORK: u32 = 1;
pub const BASE_TRANSPORT: u32 = 2;

/// A rule's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    Return,
    Jump(String),
    Goto(String),
}

impl Verdict {
    fn code(&self) -> i32 {
        match self {
            Verdict::Drop => 0,
            Verdict::Accept => 1,
            Verdict::Jump(_) => -3,
            Verdict::Goto(_) => -4,
            Verdict::Return => -5,
        }
    }

    pub(crate) fn from_code(code: i32, chain: Option<String>) -> Option<Verdict> {
        Some(match (code, chain) {
            (0, _) => Verdict::Drop,
            (1, _) => Verdict::Accept,
            (-3, Some(c)) => Verdict::Jump(c),
            (-4, Some(c)) => Verdict::Goto(c),
            (-5, _) => Verdict::Return,
            _ => return None,
        })
    }
}

/// Comparison operators (`NFT_CMP_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq = 0,
    Neq = 1,
}

/// One expression of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// `meta load <key> => reg <dreg>`
    Meta {
        key: u32,
        dreg: u32,
    },
    /// `payload load <len>b @ <base> + <offset> => reg <dreg>`
    Payload {
        base: u32,
        offset: u32,
        len: u32,
        dreg: u32,
    },
    /// `cmp <op> reg <sreg> <data>`
    Cmp {
        sreg: u32,
        op: CmpOp,
        data: Vec<u8>,
    },
    /// `bitwise reg 1 = (reg 1 & mask) ^ xor`
    Bitwise {
        reg: u32,
        mask: Vec<u8>,
        xor: Vec<u8>,
    },
    /// `immediate reg 0 <verdict>`
    Verdict(Verdict),
    /// `immediate reg <dreg> <data>`
    Data {
        dreg: u32,
        data: Vec<u8>,
    },
    Masquerade,
    Counter,
    /// `nat dnat|snat ip|ip6 addr_min reg <addr> [proto_min reg <proto>
    /// flags 0x2]`
    Nat {
        dnat: bool,
        ipv6: bool,
        addr_reg: u32,
        proto_reg: Option<u32>,
    },
    /// `fib <flags> <result> => reg <dreg>`
    Fib {
        flags: u32,
        result: u32,
        dreg: u32,
    },
    /// `ct load <key> => reg <dreg>`
    Ct {
        key: u32,
        dreg: u32,
    },
}

impl Expr {
    pub(crate) fn encode(&self, a: &mut Attrs) {
        const NAME: u16 = 1;
        const DATA: u16 = 2;
        a.nest(1); // NFTA_LIST_ELEM
        match self {
            Expr::Meta { key, dreg } => {
                a.str(NAME, "meta")
                    .nest(DATA)
                    .u32(2, *key)
                    .u32(1, *dreg)
                    .end();
            }
            Expr::Payload {
                base,
                offset,
                len,
                dreg,
            } => {
                a.str(NAME, "payload")
                    .nest(DATA)
                    .u32(1, *dreg)
                    .u32(2, *base)
                    .u32(3, *offset)
                    .u32(4, *len)
                    .end();
            }
            Expr::Cmp { sreg, op, data } => {
                a.str(NAME, "cmp")
                    .nest(DATA)
                    .u32(1, *sreg)
                    .u32(2, *op as u32)
                    .nest(3)
                    .bytes(1, data)
                    .end()
                    .end();
            }
            Expr::Bitwise { reg, mask, xor } => {
                a.str(NAME, "bitwise")
                    .nest(DATA)
                    .u32(1, *reg)
                    .u32(2, *reg)
                    .u32(3, mask.len() as u32)
                    .nest(4)
                    .bytes(1, mask)
                    .end()
                    .nest(5)
                    .bytes(1, xor)
                    .end()
                    .end();
            }
            Expr::Verdict(v) => {
                a.str(NAME, "immediate")
                    .nest(DATA)
                    .u32(1, REG_VERDICT)
                    .nest(2)
                    .nest(2)
                    .u32(1, v.code() as u32);
                if let Verdict::Jump(c) | Verdict::Goto(c) = v {
                    a.str(2, c);
                }
                a.end().end().end();
            }
            Expr::Data { dreg, data } => {
                a.str(NAME, "immediate")
                    .nest(DATA)
                    .u32(1, *dreg)
                    .nest(2)
                    .bytes(1, data)
                    .end()
                    .end();
            }
            Expr::Masquerade => {
                a.str(NAME, "masq").nest(DATA).end();
            }
            Expr::Counter => {
                a.str(NAME, "counter").nest(DATA).end();
            }
            Expr::Fib {
                flags,
                result,
                dreg,
            } => {
                a.str(NAME, "fib")
                    .nest(DATA)
                    .u32(1, *dreg)
                    .u32(2, *result)
                    .u32(3, *flags)
                    .end();
            }
            Expr::Ct { key, dreg } => {
                a.str(NAME, "ct")
                    .nest(DATA)
                    .u32(1, *dreg)
                    .u32(2, *key)
                    .end();
            }
            Expr::Nat {
                dnat,
                ipv6,
                addr_reg,
                proto_reg,
            } => {
                a.str(NAME, "nat")
                    .nest(DATA)
                    .u32(1, u32::from(*dnat))
                    .u32(2, if *ipv6 { 10 } else { 2 })
                    .u32(3, *addr_reg);
                if let Some(p) = proto_reg {
                    // NF_NAT_RANGE_PROTO_SPECIFIED, as nft sets it with a port.
                    a.u32(5, *p).u32(7, 2);
                }
                a.end();
            }
        }
        a.end();
    }
}

/// `meta nfproto ipv4|ipv6`: the dependency nft adds before an `ip`/`ip6`
/// match in an `inet` table.
pub fn nfproto(v4: bool) -> Vec<Expr> {
    vec![
        Expr::Meta {
            key: META_NFPROTO,
            dreg: REG_1,
        },
        Expr::Cmp {
            sreg: REG_1,
            op: CmpOp::Eq,
            data: vec![if v4 { 2 } else { 10 }],
        },
    ]
}

/// Source or destination address of an IP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addr {
    Source,
    Destination,
}

/// `ip|ip6 saddr|daddr [!=] <address or prefix>`, encoded as nft does it:
/// a full address compares all its bytes; a prefix on a byte boundary
/// compares only the prefix's bytes; any other prefix masks the full address.
pub fn ip(which: Addr, net: IpNetwork, op: CmpOp) -> Vec<Expr> {
    let v4 = net.is_ipv4();
    let (full, offset) = match (v4, which) {
        (true, Addr::Source) => (4u32, 12),
        (true, Addr::Destination) => (4, 16),
        (false, Addr::Source) => (16, 8),
        (false, Addr::Destination) => (16, 24),
    };
    let bytes: Vec<u8> = match net.network() {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    let addr_bytes: Vec<u8> = match net.ip() {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    let prefix = u32::from(net.prefix());
    if prefix == full * 8 {
        return vec![
            Expr::Payload {
                base: BASE_NETWORK,
                offset,
                len: full,
                dreg: REG_1,
            },
            Expr::Cmp {
                sreg: REG_1,
                op,
                data: addr_bytes,
            },
        ];
    }
    if prefix % 8 == 0 && prefix > 0 {
        let n = (prefix / 8) as usize;
        return vec![
            Expr::Payload {
                base: BASE_NETWORK,
                offset,
                len: n as u32,
                dreg: REG_1,
            },
            Expr::Cmp {
                sreg: REG_1,
                op,
                data: bytes[..n].to_vec(),
            },
        ];
    }
    let mask: Vec<u8> = match net.mask() {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    vec![
        Expr::Payload {
            base: BASE_NETWORK,
            offset,
            len: full,
            dreg: REG_1,
        },
        Expr::Bitwise {
            reg: REG_1,
            mask,
            xor: vec![0; full as usize],
        },
        Expr::Cmp {
            sreg: REG_1,
            op,
            data: bytes,
        },
    ]
}

/// `iifname "<name>"` (the name padded to IFNAMSIZ, as nft compares it).
pub fn iifname(name: &str) -> Vec<Expr> {
    ifname(META_IIFNAME, name, CmpOp::Eq)
}

/// `iifname|oifname [!=] "<name>"`: `key` is [`META_IIFNAME`] or
/// [`META_OIFNAME`].
pub fn ifname(key: u32, name: &str, op: CmpOp) -> Vec<Expr> {
    let mut data = vec![0u8; 16];
    let n = name.len().min(15);
    data[..n].copy_from_slice(&name.as_bytes()[..n]);
    vec![
        Expr::Meta { key, dreg: REG_1 },
        Expr::Cmp {
            sreg: REG_1,
            op,
            data,
        },
    ]
}

/// IP protocol numbers for [`l4proto`].
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_SCTP: u8 = 132;

/// `<tcp|udp|sctp> dport <port>` as nft encodes it: `meta l4proto` then
/// the transport header's destination port (the same offset for all three).
pub fn l4_dport(proto: u8, port: u16) -> Vec<Expr> {
    vec![
        Expr::Meta {
            key: META_L4PROTO,
            dreg: REG_1,
        },
        Expr::Cmp {
            sreg: REG_1,
            op: CmpOp::Eq,
            data: vec![proto],
        },
        Expr::Payload {
            base: BASE_TRANSPORT,
            offset: 2,
            len: 2,
            dreg: REG_1,
        },
        Expr::Cmp {
            sreg: REG_1,
            op: CmpOp::Eq,
            data: port.to_be_bytes().to_vec(),
        },
    ]
}

/// `fib daddr type local`.
pub fn fib_daddr_local() -> Vec<Expr> {
    const NFTA_FIB_F_DADDR: u32 = 1 << 1;
    const NFT_FIB_RESULT_ADDRTYPE: u32 = 3;
    const RTN_LOCAL: u32 = 2;
    vec![
        Expr::Fib {
            flags: NFTA_FIB_F_DADDR,
            result: NFT_FIB_RESULT_ADDRTYPE,
            dreg: REG_1,
        },
        Expr::Cmp {
            sreg: REG_1,
            op: CmpOp::Eq,
            data: RTN_LOCAL.to_ne_bytes().to_vec(),
        },
    ]
}

/// `dnat to <addr>:<port>` (`[addr]:port` for IPv6).
pub fn dnat_to(addr: IpAddr, port: u16) -> Vec<Expr> {
    let (bytes, ipv6) = match addr {
        IpAddr::V4(a) => (a.octets().to_vec(), false),
        IpAddr::V6(a) => (a.octets().to_vec(), true),
    };
    // nft keeps a port in a 4-byte register, in network order at the front.
    let mut p = port.to_be_bytes().to_vec();
    p.extend([0, 0]);
    vec![
        Expr::Data {
            dreg: REG_1,
            data: bytes,
        },
        Expr::Data {
            dreg: REG_2,
            data: p[..2].to_vec(),
        },
        Expr::Nat {
            dnat: true,
            ipv6,
            addr_reg: REG_1,
            proto_reg: Some(REG_2),
        },
    ]
}

/// `ct status dnat`: the connection's destination was NATed.
pub fn ct_status_dnat() -> Vec<Expr> {
    const NFT_CT_STATUS: u32 = 2;
    const IPS_DST_NAT: u32 = 1 << 5;
    vec![
        Expr::Ct {
            key: NFT_CT_STATUS,
            dreg: REG_1,
        },
        Expr::Bitwise {
            reg: REG_1,
            mask: IPS_DST_NAT.to_ne_bytes().to_vec(),
            xor: vec![0; 4],
        },
        Expr::Cmp {
            sreg: REG_1,
            op: CmpOp::Neq,
            data: vec![0; 4],
        },
    ]
}

/// `ct state related,established`.
pub fn ct_related_established() -> Vec<Expr> {
    const NFT_CT_STATE: u32 = 0;
    const ESTABLISHED: u32 = 1 << 1;
    const RELATED: u32 = 1 << 2;
    vec![
        Expr::Ct {
            key: NFT_CT_STATE,
            dreg: REG_1,
        },
        Expr::Bitwise {
            reg: REG_1,
            mask: (ESTABLISHED | RELATED).to_ne_bytes().to_vec(),
            xor: vec![0; 4],
        },
        Expr::Cmp {
            sreg: REG_1,
            op: CmpOp::Neq,
            data: vec![0; 4],
        },
    ]
}

/// `ether saddr <mac>` (bridge family).
pub fn ether_saddr(mac: [u8; 6]) -> Vec<Expr> {
    vec![
        Expr::Payload {
            base: BASE_LL,
            offset: 6,
            len: 6,
            dreg: REG_1,
        },
        Expr::Cmp {
            sreg: REG_1,
            op: CmpOp::Eq,
            data: mac.to_vec(),
        },
    ]
}

/// The user data nft stores a comment in: TLV type 0, length, text, NUL.
pub fn comment_userdata(comment: &str) -> Vec<u8> {
    let text = &comment.as_bytes()[..comment.len().min(254)];
    let mut v = Vec::with_capacity(text.len() + 3);
    v.push(0);
    v.push((text.len() + 1) as u8);
    v.extend_from_slice(text);
    v.push(0);
    v
}

/// The comment in a rule's user data, if any.
pub fn comment_from_userdata(mut ud: &[u8]) -> Option<String> {
    while ud.len() >= 2 {
        let (kind, len) = (ud[0], ud[1] as usize);
        let value = ud.get(2..2 + len)?;
        if kind == 0 {
            return Some(crate::attr::as_str(value));
        }
        ud = &ud[2 + len..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNetwork {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes_like_nft() {
        // /32: full compare (nft: payload load 4b @ nh + 12; cmp eq 0x0500000a).
        assert_eq!(
            ip(Addr::Source, net("10.0.0.5/32"), CmpOp::Eq),
            vec![
                Expr::Payload {
                    base: 1,
                    offset: 12,
                    len: 4,
                    dreg: 1
                },
                Expr::Cmp {
                    sreg: 1,
                    op: CmpOp::Eq,
                    data: vec![10, 0, 0, 5]
                }
            ]
        );
        // /24: three bytes, no mask.
        assert_eq!(
            ip(Addr::Destination, net("10.0.0.0/24"), CmpOp::Neq),
            vec![
                Expr::Payload {
                    base: 1,
                    offset: 16,
                    len: 3,
                    dreg: 1
                },
                Expr::Cmp {
                    sreg: 1,
                    op: CmpOp::Neq,
                    data: vec![10, 0, 0]
                }
            ]
        );
        // /4: the whole address, masked.
        assert_eq!(
            ip(Addr::Destination, net("224.0.0.0/4"), CmpOp::Eq),
            vec![
                Expr::Payload {
                    base: 1,
                    offset: 16,
                    len: 4,
                    dreg: 1
                },
                Expr::Bitwise {
                    reg: 1,
                    mask: vec![0xf0, 0, 0, 0],
                    xor: vec![0; 4]
                },
                Expr::Cmp {
                    sreg: 1,
                    op: CmpOp::Eq,
                    data: vec![224, 0, 0, 0]
                }
            ]
        );
        // IPv6: ff00::/8 one byte at offset 24; saddr at offset 8.
        assert_eq!(
            ip(Addr::Destination, net("ff00::/8"), CmpOp::Eq),
            vec![
                Expr::Payload {
                    base: 1,
                    offset: 24,
                    len: 1,
                    dreg: 1
                },
                Expr::Cmp {
                    sreg: 1,
                    op: CmpOp::Eq,
                    data: vec![0xff]
                }
            ]
        );
        assert_eq!(
            ip(Addr::Source, net("2001:db8::5/128"), CmpOp::Eq)[0],
            Expr::Payload {
                base: 1,
                offset: 8,
                len: 16,
                dreg: 1
            }
        );
        // A host address with its prefix compares the network for a
        // prefix match, the address itself for a /32.
        assert_eq!(
            ip(Addr::Destination, net("10.1.2.3/16"), CmpOp::Neq)[1],
            Expr::Cmp {
                sreg: 1,
                op: CmpOp::Neq,
                data: vec![10, 1]
            }
        );
    }

    #[test]
    fn comments() {
        assert_eq!(comment_userdata("hello"), b"\x00\x06hello\x00");
        assert_eq!(
            comment_from_userdata(b"\x00\x06hello\x00").as_deref(),
            Some("hello")
        );
        assert_eq!(
            comment_from_userdata(b"\x01\x02ab\x00\x03xy\x00").as_deref(),
            Some("xy")
        );
        assert_eq!(comment_from_userdata(b"\x00\x09short"), None);
    }

    #[test]
    fn iifname_padding() {
        let e = iifname("veth1234");
        assert_eq!(
            e[1],
            Expr::Cmp {
                sreg: 1,
                op: CmpOp::Eq,
                data: b"veth1234\0\0\0\0\0\0\0\0".to_vec()
            }
        );
    }

    /// The bytes of an encoded expression: `[ immediate reg 0 jump -> c ]`.
    #[test]
    fn verdict_bytes() {
        let mut a = Attrs::new(0, 0);
        Expr::Verdict(Verdict::Jump("c".into())).encode(&mut a);
        #[rustfmt::skip]
        let want: &[u8] = &[
            0, 0, 0, 0,                                  // nfgenmsg
            56, 0, 1, 0x80,                              // NFTA_LIST_ELEM
            14, 0, 1, 0, b'i', b'm', b'm', b'e', b'd', b'i', b'a', b't', b'e', 0, 0, 0, // NFTA_EXPR_NAME
            36, 0, 2, 0x80,                              // NFTA_EXPR_DATA
            8, 0, 1, 0, 0, 0, 0, 0,                      //   NFTA_IMMEDIATE_DREG 0
            24, 0, 2, 0x80,                              //   NFTA_IMMEDIATE_DATA
            20, 0, 2, 0x80,                              //     NFTA_DATA_VERDICT
            8, 0, 1, 0, 0xff, 0xff, 0xff, 0xfd,          //       NFTA_VERDICT_CODE -3 (jump)
            6, 0, 2, 0, b'c', 0, 0, 0,                   //       NFTA_VERDICT_CHAIN "c"
        ];
        assert_eq!(a.buf, want);
    }
}
