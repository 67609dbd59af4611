fn main() -> std::process::ExitCode {
    loopback::main()
}
