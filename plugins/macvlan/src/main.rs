fn main() -> std::process::ExitCode {
    macvlan::main()
}
