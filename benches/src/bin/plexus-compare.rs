//! `plexus-compare`: placeholder until the harness lands.

fn main() {
    eprintln!("plexus-compare: not written yet");
    std::process::exit(2);
}
