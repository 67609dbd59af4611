//! `resolvConf`: a resolv.conf parsed into the result's `dns`, as the
//! reference's `parseResolvConf` does.

use std::path::Path;

use cni::{CniError, Dns};

pub fn parse(text: &str) -> Dns {
    let mut dns = Dns::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 2 {
            continue;
        }
        let rest = fields[1..].iter().map(|s| s.to_string());
        match fields[0] {
            "nameserver" => dns.nameservers.push(fields[1].to_string()),
            "domain" => dns.domain = fields[1].to_string(),
            "search" => dns.search.extend(rest),
            "options" => dns.options.extend(rest),
            _ => {}
        }
    }
    dns
}

pub fn read(path: &Path) -> Result<Dns, CniError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CniError::invalid_config(format!("ipam.resolvConf: read {}: {e}", path.display()))
    })?;
    Ok(parse(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf() {
        let d = parse(
            "# generated\n; also a comment\nnameserver 10.0.0.1\nnameserver   2001:db8::1  \n\
             domain example.com\nsearch a.example b.example\nsearch c\noptions ndots:5 edns0\nbogus line here\nnameserver\n",
        );
        assert_eq!(d.nameservers, ["10.0.0.1", "2001:db8::1"]);
        assert_eq!(d.domain, "example.com");
        assert_eq!(d.search, ["a.example", "b.example", "c"]);
        assert_eq!(d.options, ["ndots:5", "edns0"]);
        assert!(parse("").is_empty());
    }
}
