//! Firewall rules shared by the plugins, in the reference plugins' layouts
//! so that either implementation removes what the other made:
//!
//! * [`masq`]: IP masquerading for `ipMasq` (bridge, ptp), nftables by
//!   default, the reference's iptables chains on request.
//! * [`spoofcheck`]: bridge `macspoofchk`.
//! * [`portmap`]: host port mappings (the `portmap` plugin).
//!
//! nf_tables is spoken over netlink ([`nft`]); no process is started except
//! for the iptables backend's `iptables-restore` and for hosts whose
//! iptables is the legacy (non-nf_tables) one.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod forward;
mod iptables;
pub mod masq;
pub mod portmap;
pub mod spoofcheck;

use sha2::{Digest, Sha512};

/// Lowercase hex of SHA-512(`s`), cut to `len` characters: the reference's
/// `MustFormatHashWithPrefix` without the prefix.
pub fn hash_hex(s: &str, len: usize) -> String {
    let digest = Sha512::digest(s.as_bytes());
    let mut out = String::with_capacity(128);
    for b in digest.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out.truncate(len);
    out
}

/// The reference's iptables chain name for a container on a network:
/// `CNI-` + 24 hex characters of SHA-512(network + containerID).
pub fn chain_name(network: &str, container_id: &str) -> String {
    format!("CNI-{}", hash_hex(&format!("{network}{container_id}"), 24))
}

/// The reference's iptables rule comment: `name: "<net>" id: "<cid>"`.
pub fn iptables_comment(network: &str, container_id: &str) -> String {
    format!("name: {network:?} id: {container_id:?}")
}

pub(crate) fn nft_error(e: nft::Error) -> cni::CniError {
    cni::CniError::from(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The formulas; that they give the reference's names is checked by the
    /// bridge interop test, which removes chains the reference created.
    #[test]
    fn reference_names() {
        assert_eq!(hash_hex("", 16), "cf83e1357eefb8bd");
        assert_eq!(chain_name("mynet", "c1").len(), 28);
        assert!(chain_name("mynet", "c1").starts_with("CNI-"));
        assert_eq!(
            chain_name("mynet", "c1"),
            format!("CNI-{}", &hash_hex("mynetc1", 24))
        );
        assert_eq!(iptables_comment("mynet", "c1"), r#"name: "mynet" id: "c1""#);
    }
}
