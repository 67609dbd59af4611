//! Ranges and range sets, validated and iterated exactly as the reference's
//! `backend/allocator/range.go` and `range_set.go` do.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnetwork::IpNetwork;

/// An address as a number, for arithmetic.
pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

pub fn from_u128(v: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(v as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(v))
    }
}

/// IPv4-mapped IPv6 addresses are IPv4 addresses (Go's `To4()`).
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Parse an address, accepting (and ignoring) a `/prefix`.
pub fn parse_ip_lenient(s: &str) -> Option<IpAddr> {
    let addr = s.split_once('/').map_or(s, |(a, _)| a);
    addr.trim().parse::<IpAddr>().ok().map(canonical)
}

/// One pool: `subnet` with an inclusive `start..=end` and a gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    /// The subnet, as its network address and prefix length.
    pub subnet: IpNetwork,
    pub start: IpAddr,
    pub end: IpAddr,
    pub gateway: IpAddr,
}

/// A range as the config writes it (strings, all but `subnet` optional).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RangeConf {
    pub subnet: String,
    pub range_start: Option<String>,
    pub range_end: Option<String>,
    pub gateway: Option<String>,
}

fn parse_ip(field: &str, s: &str) -> Result<IpAddr, String> {
    s.parse::<IpAddr>()
        .map(canonical)
        .map_err(|_| format!("{field}: invalid IP address: {s}"))
}

impl Range {
    /// Validate and fill in defaults (the reference's `Range.Canonicalize`):
    /// gateway = network+1, rangeStart = network+1, rangeEnd = the last
    /// address (the broadcast address excluded for IPv4).
    pub fn from_conf(c: &RangeConf) -> Result<Range, String> {
        let given = cni::parse_cidr(&c.subnet).map_err(|e| format!("subnet: {e}"))?;
        let given_ip = canonical(given.ip());
        let subnet =
            IpNetwork::new(given_ip, given.prefix()).map_err(|e| format!("subnet: {e}"))?;
        let bits: u8 = if subnet.is_ipv4() { 32 } else { 128 };
        if subnet.prefix() > bits - 2 {
            return Err(format!("Network {subnet} too small to allocate from"));
        }
        let network = subnet.network();
        if network != subnet.ip() {
            return Err(format!(
                "Network has host bits set. For a subnet mask of length {} the network address is {network}",
                subnet.prefix()
            ));
        }
        let subnet = IpNetwork::new(network, subnet.prefix()).map_err(|e| e.to_string())?;
        let v4 = subnet.is_ipv4();
        let first = from_u128(to_u128(network) + 1, v4);
        let gateway = match &c.gateway {
            Some(g) if !g.is_empty() => {
                let g = parse_ip("gateway", g)?;
                if !subnet.contains(g) {
                    return Err(format!("gateway {g} not in network {subnet}"));
                }
                g
            }
            _ => first,
        };
        let mut r = Range {
            subnet,
            start: first,
            end: last_ip(subnet),
            gateway,
        };
        let start = c
            .range_start
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| parse_ip("rangeStart", s))
            .transpose()?;
        let end = c
            .range_end
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| parse_ip("rangeEnd", s))
            .transpose()?;
        // As the reference: each bound is checked against the subnet and
        // against the bounds known so far, so a start after an explicit end
        // is an error.
        let mut known = (None, end);
        if let Some(s) = start {
            r.check_in(s, known)?;
            known.0 = Some(s);
            r.start = s;
        }
        if let Some(e) = end {
            r.check_in(e, known)?;
            r.end = e;
        }
        Ok(r)
    }

    pub fn is_v4(&self) -> bool {
        self.subnet.is_ipv4()
    }

    /// The reference's `IPInRange` with explicit bounds (`None` = unchecked).
    fn check_in(
        &self,
        addr: IpAddr,
        (start, end): (Option<IpAddr>, Option<IpAddr>),
    ) -> Result<(), String> {
        if addr.is_ipv4() != self.is_v4() {
            return Err(format!(
                "IP {addr} is not the same protocol as subnet {}",
                self.subnet
            ));
        }
        if !self.subnet.contains(addr) {
            return Err(format!("{addr} not in network {}", self.subnet));
        }
        if let Some(s) = start
            && to_u128(addr) < to_u128(s)
        {
            return Err(format!(
                "{addr} is in network {} but before start {s}",
                self.subnet
            ));
        }
        if let Some(e) = end
            && to_u128(addr) > to_u128(e)
        {
            return Err(format!(
                "{addr} is in network {} but after end {e}",
                self.subnet
            ));
        }
        Ok(())
    }

    fn in_range(&self, addr: IpAddr) -> bool {
        self.check_in(addr, (Some(self.start), Some(self.end)))
            .is_ok()
    }

    /// Whether `addr` is in the subnet and between start and end.
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.in_range(canonical(addr))
    }

    /// Whether two ranges share an address (the reference's `Overlaps`).
    pub fn overlaps(&self, o: &Range) -> bool {
        if self.is_v4() != o.is_v4() {
            return false;
        }
        self.in_range(o.start)
            || self.in_range(o.end)
            || o.in_range(self.start)
            || o.in_range(self.end)
    }

    /// How many addresses `start..=end` holds (saturating for `::/0`-sized ranges).
    pub fn size(&self) -> u128 {
        (to_u128(self.end) - to_u128(self.start)).saturating_add(1)
    }

    /// The address at `offset` from `start`.
    pub fn at(&self, offset: u128) -> IpAddr {
        from_u128(to_u128(self.start) + offset, self.is_v4())
    }

    pub fn offset_of(&self, addr: IpAddr) -> u128 {
        to_u128(addr) - to_u128(self.start)
    }
}

/// The last address of a subnet; for IPv4 the one before the broadcast.
fn last_ip(subnet: IpNetwork) -> IpAddr {
    let v4 = subnet.is_ipv4();
    let host_bits = if v4 { 32 } else { 128 } - u32::from(subnet.prefix());
    let base = to_u128(subnet.network());
    let last = if host_bits >= 128 {
        u128::MAX
    } else {
        base | ((1u128 << host_bits) - 1)
    };
    from_u128(if v4 { last - 1 } else { last }, v4)
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// The pools one address is taken from: disjoint, one family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeSet(pub Vec<Range>);

impl RangeSet {
    /// The reference's `RangeSet.Canonicalize`.
    pub fn from_conf(confs: &[RangeConf]) -> Result<RangeSet, String> {
        if confs.is_empty() {
            return Err("empty range set".into());
        }
        let mut ranges: Vec<Range> = Vec::with_capacity(confs.len());
        for (i, c) in confs.iter().enumerate() {
            let r = Range::from_conf(c).map_err(|e| {
                if confs.len() > 1 {
                    format!("range {i}: {e}")
                } else {
                    e
                }
            })?;
            if let Some(first) = ranges.first()
                && first.is_v4() != r.is_v4()
            {
                return Err("mixed address families".into());
            }
            ranges.push(r);
        }
        for (i, a) in ranges.iter().enumerate() {
            for b in &ranges[i + 1..] {
                if a.overlaps(b) {
                    return Err(format!("subnets {a} and {b} overlap"));
                }
            }
        }
        Ok(RangeSet(ranges))
    }

    pub fn is_v4(&self) -> bool {
        self.0.first().is_some_and(Range::is_v4)
    }

    pub fn range_for(&self, addr: IpAddr) -> Option<(usize, &Range)> {
        self.0.iter().enumerate().find(|(_, r)| r.contains(addr))
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        self.range_for(addr).is_some()
    }

    pub fn overlaps(&self, other: &RangeSet) -> bool {
        self.0.iter().any(|a| other.0.iter().any(|b| a.overlaps(b)))
    }

    /// Where round-robin allocation starts: just after `last` when `last`
    /// is in the set (the reference's `GetIter`), else at the first range's
    /// start. Returned as (range index, offset in that range).
    pub fn cursor_after(&self, last: Option<IpAddr>) -> (usize, u128) {
        match last.and_then(|l| {
            self.range_for(l)
                .map(|(i, r)| (i, r.offset_of(canonical(l))))
        }) {
            Some((i, off)) if off + 1 < self.0[i].size() => (i, off + 1),
            Some((i, _)) => ((i + 1) % self.0.len(), 0),
            None => (0, 0),
        }
    }

    /// The order round-robin allocation visits the set in, from `cursor`, as
    /// (range index, first offset, last offset) segments: the rest of the
    /// cursor's range, every following range (wrapping), then the part of
    /// the cursor's range before the cursor.
    pub fn segments(&self, (ri, off): (usize, u128)) -> Vec<(usize, u128, u128)> {
        let n = self.0.len();
        let mut out = vec![(ri, off, self.0[ri].size() - 1)];
        for k in 1..n {
            let j = (ri + k) % n;
            out.push((j, 0, self.0[j].size() - 1));
        }
        if off > 0 {
            out.push((ri, 0, off - 1));
        }
        out
    }
}

impl fmt::Display for RangeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(Range::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(subnet: &str, start: Option<&str>, end: Option<&str>, gw: Option<&str>) -> RangeConf {
        RangeConf {
            subnet: subnet.into(),
            range_start: start.map(Into::into),
            range_end: end.map(Into::into),
            gateway: gw.map(Into::into),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn defaults() {
        let r = Range::from_conf(&rc("10.1.2.0/24", None, None, None)).unwrap();
        assert_eq!(
            (r.start, r.end, r.gateway),
            (ip("10.1.2.1"), ip("10.1.2.254"), ip("10.1.2.1"))
        );
        assert_eq!(r.to_string(), "10.1.2.1-10.1.2.254");
        let r = Range::from_conf(&rc("2001:db8:1::/64", None, None, None)).unwrap();
        assert_eq!(
            (r.start, r.end, r.gateway),
            (
                ip("2001:db8:1::1"),
                ip("2001:db8:1::ffff:ffff:ffff:ffff"),
                ip("2001:db8:1::1")
            )
        );
        let r = Range::from_conf(&rc("10.0.0.0/30", None, None, None)).unwrap();
        assert_eq!((r.start, r.end), (ip("10.0.0.1"), ip("10.0.0.2")));
        let r = Range::from_conf(&rc("::/0", None, None, None)).unwrap();
        assert_eq!(r.end, ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
        assert_eq!(r.size(), u128::MAX);
        let r = Range::from_conf(&rc(
            "10.0.0.0/8",
            Some("10.1.0.0"),
            Some("10.1.255.255"),
            Some("10.0.0.254"),
        ))
        .unwrap();
        assert_eq!(
            (r.start, r.end, r.gateway),
            (ip("10.1.0.0"), ip("10.1.255.255"), ip("10.0.0.254"))
        );
        // IPv4-mapped IPv6 bounds are IPv4 bounds.
        let r = Range::from_conf(&rc("10.0.0.0/24", Some("::ffff:10.0.0.10"), None, None)).unwrap();
        assert_eq!(r.start, ip("10.0.0.10"));
    }

    #[test]
    fn every_reference_error() {
        let cases = [
            (
                rc("10.0.0.0/31", None, None, None),
                "Network 10.0.0.0/31 too small to allocate from",
            ),
            (
                rc("10.0.0.0/32", None, None, None),
                "Network 10.0.0.0/32 too small to allocate from",
            ),
            (
                rc("2001:db8::/127", None, None, None),
                "Network 2001:db8::/127 too small to allocate from",
            ),
            (
                rc("2001:db8::/128", None, None, None),
                "Network 2001:db8::/128 too small to allocate from",
            ),
            (
                rc("10.1.2.3/24", None, None, None),
                "Network has host bits set. For a subnet mask of length 24 the network address is 10.1.2.0",
            ),
            (
                rc("10.1.2.0/24", None, None, Some("10.1.3.1")),
                "gateway 10.1.3.1 not in network 10.1.2.0/24",
            ),
            (
                rc("10.1.2.0/24", Some("10.1.3.5"), None, None),
                "10.1.3.5 not in network 10.1.2.0/24",
            ),
            (
                rc("10.1.2.0/24", None, Some("10.1.1.5"), None),
                "10.1.1.5 not in network 10.1.2.0/24",
            ),
            (
                rc("10.1.2.0/24", Some("10.1.2.50"), Some("10.1.2.40"), None),
                "10.1.2.50 is in network 10.1.2.0/24 but after end 10.1.2.40",
            ),
            (
                rc("10.1.2.0/24", Some("2001:db8::1"), None, None),
                "IP 2001:db8::1 is not the same protocol as subnet 10.1.2.0/24",
            ),
            (
                rc("10.1.2.0", None, None, None),
                "subnet: invalid CIDR address: 10.1.2.0",
            ),
            (rc("", None, None, None), "subnet: invalid CIDR address: "),
            (
                rc("10.1.2.0/24", Some("bogus"), None, None),
                "rangeStart: invalid IP address: bogus",
            ),
            (
                rc("10.1.2.0/24", None, None, Some("x")),
                "gateway: invalid IP address: x",
            ),
        ];
        for (c, want) in cases {
            assert_eq!(Range::from_conf(&c).unwrap_err(), want, "{c:?}");
        }
    }

    #[test]
    fn sets() {
        let s = RangeSet::from_conf(&[
            rc("10.0.0.0/24", None, None, None),
            rc("10.0.1.0/24", None, None, None),
        ])
        .unwrap();
        assert_eq!(s.to_string(), "10.0.0.1-10.0.0.254,10.0.1.1-10.0.1.254");
        assert_eq!(RangeSet::from_conf(&[]).unwrap_err(), "empty range set");
        assert_eq!(
            RangeSet::from_conf(&[
                rc("10.0.0.0/24", None, None, None),
                rc("2001:db8::/64", None, None, None)
            ])
            .unwrap_err(),
            "mixed address families"
        );
        assert_eq!(
            RangeSet::from_conf(&[
                rc("10.0.0.0/16", None, None, None),
                rc("10.0.5.0/24", None, None, None)
            ])
            .unwrap_err(),
            "subnets 10.0.0.1-10.0.255.254 and 10.0.5.1-10.0.5.254 overlap"
        );
        // Same subnet, disjoint pools: allowed.
        assert!(
            RangeSet::from_conf(&[
                rc("10.0.0.0/24", Some("10.0.0.10"), Some("10.0.0.19"), None),
                rc("10.0.0.0/24", Some("10.0.0.20"), Some("10.0.0.29"), None)
            ])
            .is_ok()
        );
        assert!(
            s.contains(ip("10.0.1.7"))
                && !s.contains(ip("10.0.2.7"))
                && !s.contains(ip("10.0.0.255"))
        );
    }

    /// Every address allocation would try, in order: the segments from the
    /// cursor, gateways skipped.
    fn walk(s: &RangeSet, last: Option<&str>) -> Vec<String> {
        let mut out = Vec::new();
        for (ri, first, last) in s.segments(s.cursor_after(last.map(ip))) {
            let r = &s.0[ri];
            out.extend(
                (first..=last)
                    .map(|o| r.at(o))
                    .filter(|a| *a != r.gateway)
                    .map(|a| a.to_string()),
            );
        }
        out
    }

    #[test]
    fn iteration_round_robin_gateway_skip_wrap() {
        let s = RangeSet::from_conf(&[rc("10.0.0.0/29", None, None, None)]).unwrap(); // .1-.6, gw .1
        assert_eq!(
            walk(&s, None),
            ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
        );
        assert_eq!(
            walk(&s, Some("10.0.0.4")),
            ["10.0.0.5", "10.0.0.6", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
        );
        assert_eq!(
            walk(&s, Some("10.0.0.6")),
            ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
        );
        // A last address outside the set (ranges changed): start over.
        assert_eq!(walk(&s, Some("192.168.0.1"))[0], "10.0.0.2");
        // Two ranges: wrap from the end of one to the start of the next.
        let s = RangeSet::from_conf(&[
            rc("10.0.0.0/24", Some("10.0.0.10"), Some("10.0.0.11"), None),
            rc(
                "10.0.1.0/24",
                Some("10.0.1.20"),
                Some("10.0.1.21"),
                Some("10.0.1.21"),
            ),
        ])
        .unwrap();
        assert_eq!(
            walk(&s, Some("10.0.0.11")),
            ["10.0.1.20", "10.0.0.10", "10.0.0.11"]
        );
        // IPv6 with a gateway in the middle.
        let s = RangeSet::from_conf(&[rc(
            "2001:db8::/120",
            Some("2001:db8::fe"),
            None,
            Some("2001:db8::ff"),
        )])
        .unwrap();
        assert_eq!(walk(&s, None), ["2001:db8::fe"]);
    }

    #[test]
    fn lenient_ip_parsing() {
        assert_eq!(parse_ip_lenient("10.0.0.5/24"), Some(ip("10.0.0.5")));
        assert_eq!(parse_ip_lenient("::ffff:10.0.0.5"), Some(ip("10.0.0.5")));
        assert_eq!(parse_ip_lenient("2001:db8::5"), Some(ip("2001:db8::5")));
        assert_eq!(parse_ip_lenient("nope"), None);
    }
}
