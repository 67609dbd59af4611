fn main() -> std::process::ExitCode {
    tuning::main()
}
