//! `macspoofchk`: frames from a bridge port must carry the container's MAC.
//!
//! The reference's layout (`pkg/link/spoofcheck.go`): table `bridge nat`,
//! base chain `PREROUTING` (filter, prerouting, priority -300), per
//! attachment chains `cni-br-iface-<id>` and `cni-br-iface-<id>-mac`:
//! `iifname <port> jump iface-chain`, `jump mac-chain`,
//! `ether saddr <mac> return`, `drop`, all commented `macspoofchk-<id>`.

use cni::CniError;
use nft::{BaseChain, Batch, ChainType, Expr, Family, Hook, Socket, Verdict, expr};

use crate::nft_error;

const TABLE: &str = "nat";
const PREROUTING: &str = "PREROUTING";

fn chains(ref_id: &str) -> (String, String) {
    let iface = format!("cni-br-iface-{ref_id}");
    let mac = format!("{iface}-mac");
    (iface, mac)
}

fn comment(ref_id: &str) -> String {
    format!("macspoofchk-{ref_id}")
}

/// Only frames with source `mac` may enter the bridge from `port`.
/// `ref_id` is `<containerID>-<ifname>`.
pub fn setup(port: &str, mac: [u8; 6], ref_id: &str) -> Result<(), CniError> {
    let run = || -> Result<(), nft::Error> {
        let mut sock = Socket::new()?;
        let (iface, macc) = chains(ref_id);
        let c = comment(ref_id);
        let stale: Vec<u64> = sock
            .rules(Family::Bridge, TABLE, PREROUTING)?
            .into_iter()
            .filter(|r| r.targets(&iface))
            .map(|r| r.handle)
            .collect();
        let mut b = Batch::new();
        // Re-adding an existing base chain costs the kernel an RCU grace
        // period: only create it when missing.
        if !sock.chain_exists(Family::Bridge, TABLE, PREROUTING)? {
            b.add_table(Family::Bridge, TABLE, None).add_chain(
                Family::Bridge,
                TABLE,
                PREROUTING,
                Some(BaseChain {
                    kind: ChainType::Filter,
                    hook: Hook::Prerouting,
                    priority: -300,
                }),
                None,
            );
        }
        b.add_chain(Family::Bridge, TABLE, &iface, None, None)
            .add_chain(Family::Bridge, TABLE, &macc, None, None)
            .flush_chain(Family::Bridge, TABLE, &iface)
            .flush_chain(Family::Bridge, TABLE, &macc);
        for h in stale {
            b.delete_rule(Family::Bridge, TABLE, PREROUTING, h);
        }
        let mut r = expr::iifname(port);
        r.push(Expr::Verdict(Verdict::Jump(iface.clone())));
        b.add_rule(Family::Bridge, TABLE, PREROUTING, &r, Some(&c));
        b.add_rule(
            Family::Bridge,
            TABLE,
            &iface,
            &[Expr::Verdict(Verdict::Jump(macc.clone()))],
            Some(&c),
        );
        let mut r = expr::ether_saddr(mac);
        r.push(Expr::Verdict(Verdict::Return));
        b.add_rule(Family::Bridge, TABLE, &macc, &r, Some(&c));
        b.add_rule(
            Family::Bridge,
            TABLE,
            &macc,
            &[Expr::Verdict(Verdict::Drop)],
            Some(&c),
        );
        sock.apply(&b)
    };
    run().map_err(|e| nft_error(e).context("failed to setup spoof-check"))
}

/// Remove the attachment's rules and chains; what is missing is skipped.
pub fn teardown(ref_id: &str) -> Result<(), CniError> {
    let run = || -> Result<(), nft::Error> {
        let mut sock = Socket::new()?;
        let (iface, macc) = chains(ref_id);
        let mut b = Batch::new();
        for r in sock.rules(Family::Bridge, TABLE, PREROUTING)? {
            if r.targets(&iface) {
                b.delete_rule(Family::Bridge, TABLE, PREROUTING, r.handle);
            }
        }
        for chain in [&iface, &macc] {
            if sock.chain_exists(Family::Bridge, TABLE, chain)? {
                b.flush_chain(Family::Bridge, TABLE, chain);
            }
        }
        for chain in [&iface, &macc] {
            if sock.chain_exists(Family::Bridge, TABLE, chain)? {
                b.delete_chain(Family::Bridge, TABLE, chain);
            }
        }
        sock.apply(&b)
    };
    run().map_err(|e| nft_error(e).context("failed to teardown spoof-check"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_and_teardown() {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        setup("veth01", [2, 0, 0, 0, 0, 1], "c1-eth0").unwrap();
        setup("veth01", [2, 0, 0, 0, 0, 1], "c1-eth0").unwrap();
        setup("veth02", [2, 0, 0, 0, 0, 2], "c2-eth0").unwrap();
        let out = std::process::Command::new("nft")
            .args(["list", "table", "bridge", "nat"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            text.matches("iifname \"veth01\" jump cni-br-iface-c1-eth0")
                .count(),
            1,
            "{text}"
        );
        assert!(
            text.contains("ether saddr 02:00:00:00:00:01 return comment \"macspoofchk-c1-eth0\""),
            "{text}"
        );
        teardown("c1-eth0").unwrap();
        teardown("c1-eth0").unwrap();
        let out = std::process::Command::new("nft")
            .args(["list", "table", "bridge", "nat"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            !text.contains("c1-eth0") && text.contains("c2-eth0"),
            "{text}"
        );
    }
}
