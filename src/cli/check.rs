//! `hookroute check --rules PATH`: every problem as `PATH:LINE:COL: field: message`; exit 1 on errors.

use std::path::Path;

use crate::config::{self, LoadError};

pub fn run(path: &Path) -> u8 {
    match config::load_on_own_stack(path) {
        Ok(loaded) => {
            print!("{}", loaded.warnings);
            let c = &loaded.config;
            println!(
                "{}: ok: {} source(s), {} destination(s), {} rule(s), version {}",
                path.display(),
                c.sources.len(),
                c.destinations.len(),
                c.rules.len(),
                c.version
            );
            0
        }
        Err(LoadError::Invalid(diags)) => {
            print!("{diags}");
            eprintln!("{}: {} error(s)", path.display(), diags.error_count());
            1
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}
