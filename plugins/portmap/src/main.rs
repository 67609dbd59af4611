fn main() -> std::process::ExitCode {
    portmap::main()
}
