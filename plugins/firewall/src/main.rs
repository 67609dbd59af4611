fn main() -> std::process::ExitCode {
    firewall_plugin::main()
}
