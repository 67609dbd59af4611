//! `cni-plugins`: every plugin of the suite in one executable. Installed
//! as links named after the plugins (`bridge -> cni-plugins`), it runs the
//! plugin it is called as; `cni-plugins <plugin>` works too (the runtime
//! environment and stdin are the plugin's).

use std::path::Path;
use std::process::ExitCode;

/// A plugin's entry point.
type Entry = fn() -> ExitCode;

/// The plugins, by the name a runtime runs them as.
pub const PLUGINS: [(&str, Entry); 8] = [
    ("bridge", bridge::main),
    ("firewall", firewall_plugin::main),
    ("host-local", host_local::main),
    ("ipvlan", ipvlan::main),
    ("loopback", loopback::main),
    ("macvlan", macvlan::main),
    ("portmap", portmap::main),
    ("tuning", tuning::main),
];

fn find(name: &str) -> Option<Entry> {
    PLUGINS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

fn main() -> ExitCode {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let called = Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(run) = find(&called) {
        return run();
    }
    match std::env::args().nth(1).as_deref().and_then(find) {
        Some(run) => run(),
        None => {
            let names: Vec<&str> = PLUGINS.iter().map(|(n, _)| *n).collect();
            eprintln!(
                "cni-plugins {}: run me as one of: {} (a link of that name, or `cni-plugins <name>`)",
                env!("CARGO_PKG_VERSION"),
                names.join(", ")
            );
            ExitCode::from(2)
        }
    }
}
