//! Netlink attribute encoding and decoding for nfnetlink messages.

pub const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;

/// Builds the payload of one nfnetlink message: the `nfgenmsg` header and
/// attributes, nested as needed.
pub struct Attrs {
    pub buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Attrs {
    /// Start a message body: `struct nfgenmsg { family, version 0, res_id }`.
    pub fn new(family: u8, res_id: u16) -> Attrs {
        let mut buf = Vec::with_capacity(256);
        buf.push(family);
        buf.push(0); // NFNETLINK_V0
        buf.extend_from_slice(&res_id.to_be_bytes());
        Attrs {
            buf,
            nests: Vec::new(),
        }
    }

    pub fn bytes(&mut self, kind: u16, value: &[u8]) -> &mut Attrs {
        let len = 4 + value.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.pad();
        self
    }

    /// A NUL-terminated string.
    pub fn str(&mut self, kind: u16, value: &str) -> &mut Attrs {
        let mut v = Vec::with_capacity(value.len() + 1);
        v.extend_from_slice(value.as_bytes());
        v.push(0);
        self.bytes(kind, &v)
    }

    /// nf_tables integers are big-endian.
    pub fn u32(&mut self, kind: u16, value: u32) -> &mut Attrs {
        self.bytes(kind, &value.to_be_bytes())
    }

    pub fn u64(&mut self, kind: u16, value: u64) -> &mut Attrs {
        self.bytes(kind, &value.to_be_bytes())
    }

    pub fn nest(&mut self, kind: u16) -> &mut Attrs {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        self
    }

    pub fn end(&mut self) -> &mut Attrs {
        if let Some(start) = self.nests.pop() {
            let len = (self.buf.len() - start) as u16;
            self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        }
        self
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }
}

/// Iterate the attributes in `buf`: (type without flags, payload).
pub fn parse(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > buf.len() {
            return None;
        }
        let payload = &buf[4..len];
        buf = buf.get((len + 3) & !3..).unwrap_or(&[]);
        Some((kind, payload))
    })
}

pub fn get(buf: &[u8], kind: u16) -> Option<&[u8]> {
    parse(buf).find(|(k, _)| *k == kind).map(|(_, v)| v)
}

pub fn as_str(v: &[u8]) -> String {
    let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

pub fn as_u64(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.try_into().ok()?))
}

pub fn as_u32(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(v.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_and_parse() {
        let mut a = Attrs::new(2, 0);
        a.str(1, "nat")
            .nest(4)
            .u32(1, 4)
            .u32(2, 100)
            .end()
            .u64(3, 7);
        #[rustfmt::skip]
        let want: &[u8] = &[
            2, 0, 0, 0,                         // nfgenmsg: NFPROTO_IPV4, v0, res_id 0
            8, 0, 1, 0, b'n', b'a', b't', 0,    // attr 1 "nat\0"
            20, 0, 4, 0x80,                     // nested attr 4
            8, 0, 1, 0, 0, 0, 0, 4,             //   1: u32 BE 4
            8, 0, 2, 0, 0, 0, 0, 100,           //   2: u32 BE 100
            12, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 7 // attr 3 u64 BE 7
        ];
        assert_eq!(a.buf, want);
        let attrs: Vec<_> = parse(&a.buf[4..]).collect();
        assert_eq!(attrs.len(), 3);
        assert_eq!(as_str(attrs[0].1), "nat");
        assert_eq!(attrs[1].0, 4);
        assert_eq!(as_u32(get(attrs[1].1, 2).unwrap()), Some(100));
        assert_eq!(as_u64(attrs[2].1), Some(7));
    }
}
