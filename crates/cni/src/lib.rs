//! The CNI specification (0.1.0 through 1.1.0) as a library.
//!
//! * [`Version`]: the spec versions and their result families.
//! * [`Env`] and [`CniArgs`]: the `CNI_*` environment with the reference's rules.
//! * [`NetConf`], [`ConfList`]: configuration; [`json`] decodes it with Go's rules.
//! * [`Success`]: the ADD result, converted to and from every version.
//! * [`CniError`]: the error result and its well-known [`Code`]s.
//! * [`Plugin`], [`run`]: the verb dispatcher every plugin binary uses.
//! * [`delegate`]: running an IPAM plugin found in CNI_PATH.
//!
//! No netlink here: this crate only knows the protocol.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod args;
mod config;
pub mod delegate;
mod env;
mod error;
pub mod json;
mod result;
mod skel;
mod version;

pub use args::{CniArgs, KnownArgs};
pub use config::{ConfList, GcAttachment, IpamConf, NetConf};
pub use env::{
    Command, Env, EnvError, MAX_CONTAINER_ID_LEN, MAX_IFNAME_LEN, is_valid_name,
    validate_container_id, validate_ifname, validate_network_name,
};
pub use error::{CniError, Code, Context};
pub use result::{Dns, Interface, IpConfig, Route, Success, parse_cidr, serde_ip};
pub use skel::{Attachment, Failure, MAX_STDIN, Plugin, Request, dispatch, run};
pub use version::{Family, Semver, Version};
