//! `prgate key generate|public`: the ed25519 key that signs execution records. Both print the
//! public key (alone on standard output, so that `> note.pub` keeps it) and the key id that
//! every signature names (on standard error; both in `--json`).

use std::process::ExitCode;

use crate::{EXIT_OTHER, EXIT_USAGE, KeyCommand, report_error};
/// `prgate key generate|public`.
pub fn run(command: KeyCommand) -> ExitCode {
    use prgate::record::signing as sign;
    let (key, json) = match command {
        KeyCommand::Generate { out, json } => {
            let key = match sign::generate_key() {
                Ok(k) => k,
                Err(e) => return report_error(json, &e.to_string(), EXIT_OTHER),
            };
            if let Err(e) = sign::write_seed_file(&out, &key) {
                return report_error(json, &e.to_string(), EXIT_USAGE);
            }
            (key, json)
        }
        KeyCommand::Public { key, json } => match sign::read_seed_file(&key) {
            Ok(k) => (k, json),
            Err(e) => return report_error(json, &e.to_string(), EXIT_USAGE),
        },
    };
    let public = sign::public_key_hex(&key.verifying_key());
    let key_id = prgate::record::envelope::key_id(&key.verifying_key());
    if json {
        crate::cli::output::print_json(&prgate::contract::KeyOutput {
            public_key: public,
            key_id,
        });
    } else {
        println!("{public}");
        eprintln!("key id: {key_id}");
    }
    ExitCode::SUCCESS
}
