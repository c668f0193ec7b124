fn main() {
    std::process::exit(danemine::cli::main());
}
