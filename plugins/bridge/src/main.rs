fn main() -> std::process::ExitCode {
    bridge::main()
}
