//! A synchronous rtnetlink client for short-lived plugins.
//!
//! One [`Socket`] talks to one network namespace for its whole life: the one
//! it was opened in. Open the container's socket with [`Socket::new_in`] (a
//! brief switch into the namespace) and keep working from the host namespace.
//!
//! Compared with netavark's socket, which this follows: replies of any size
//! (the receive buffer grows), dumps retried when the kernel marks them
//! interrupted (`NLM_F_DUMP_INTR`, as the reference's `netlinksafe` does),
//! stale replies skipped by sequence number, and the kernel's extended-ack
//! message (`Error: ...`) kept in the error.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod addr;
mod error;
mod link;
mod socket;

pub use addr::Address;
pub use error::Error;
pub use link::Link;
pub use socket::{Socket, ext_ack_message};

pub use netlink_packet_route as packet;

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use nix::sched::{CloneFlags, unshare};
    use packet::AddressFamily;

    use super::*;

    /// Each test runs on its own thread: unsharing it gives the test a private
    /// network namespace and leaves the host alone.
    fn private_netns() {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET) needs root");
    }

    #[test]
    fn loopback_round_trip() {
        private_netns();
        let mut s = Socket::new().unwrap();
        let lo = s.link_by_name("lo").unwrap().unwrap();
        assert_eq!(lo.index, 1);
        assert!(!lo.is_up());
        assert_eq!(lo.mac_string(), "00:00:00:00:00:00");
        assert!(s.addresses(Some(lo.index), None).unwrap().is_empty());
        s.set_link_up(&lo, true).unwrap();
        let lo = s.link_by_index(1).unwrap().unwrap();
        assert!(lo.is_up());
        let v4 = s.addresses(Some(1), Some(AddressFamily::Inet)).unwrap();
        assert_eq!(
            v4.iter().map(|a| a.address.to_string()).collect::<Vec<_>>(),
            ["127.0.0.1/8"]
        );
        assert_eq!(v4[0].scope, 254);
        let all = s.addresses(None, None).unwrap();
        assert!(
            all.iter().any(|a| a.address.to_string() == "::1/128"),
            "{all:?}"
        );
        s.set_link_up(&lo, false).unwrap();
        assert!(!s.link_by_name("lo").unwrap().unwrap().is_up());
    }

    #[test]
    fn missing_objects() {
        private_netns();
        let mut s = Socket::new().unwrap();
        assert!(s.link_by_name("nope0").unwrap().is_none());
        assert!(s.link_by_index(4242).unwrap().is_none());
        let mut ghost = s.link_by_name("lo").unwrap().unwrap();
        ghost.index = 4242;
        ghost.name = "ghost".into();
        let e = s.set_link_up(&ghost, true).unwrap_err();
        assert!(e.is_not_found(), "{e}");
        assert!(e.to_string().starts_with("set link \"ghost\" up: "), "{e}");
        assert_eq!(cni::CniError::from(e).code, cni::Code::INTERNAL);
    }
}
