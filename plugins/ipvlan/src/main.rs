fn main() -> std::process::ExitCode {
    ipvlan::main()
}
