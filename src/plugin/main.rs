//! `kubectl kafkabackup`: the kubectl plugin (issue 15 §5, being built).

fn main() -> std::process::ExitCode {
    eprintln!("kubectl kafkabackup: not built yet");
    std::process::ExitCode::FAILURE
}
