fn main() -> std::process::ExitCode {
    host_local::main()
}
