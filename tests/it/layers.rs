//! The layering of ARCHITECTURE.md ("Layers: modules import downward"), checked on the sources: a
//! module of `src/` names only modules of lower layers (`crate::x` in code, comments left out).

use std::collections::BTreeSet;
use std::path::Path;

/// Top to bottom, as in ARCHITECTURE.md; a module may import the modules of the layers below its own.
const LAYERS: &[&[&str]] = &[
    &["cli"],
    &["admin"],
    &["server"],
    &["dry_run"],
    &["alerts"],
    &["deliver"],
    &["route"],
    &["store"],
    &["config"],
    &["rules"],
    &["actions"],
    &["verify", "template"],
    &["policy", "clock", "secret", "json", "metrics", "logfmt"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level modules named after `crate::` in `code`: `crate::a::b`, `crate::{a, b::{c}}`.
fn named_modules(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.extend(first_ident(&group[start..i]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.extend(first_ident(&group[start..i]));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.extend(first_ident(rest));
        }
    }
    out
}

fn first_ident(text: &str) -> Option<String> {
    let ident: String =
        text.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    (!ident.is_empty() && ident != "self").then_some(ident)
}

fn without_comments(source: &str) -> String {
    source.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            // A module's `tests.rs` is test code: it may drive the module through a higher layer
            // (config's tests explain an event with `dry_run`); the product never imports it.
            out.push(path);
        }
    }
}

#[test]
fn the_module_names_are_read_from_code() {
    let code = "use crate::store::{self, Store};\nuse crate::{clock::now_ms, policy::{Limits, Rate}};\n\
                let x = crate::json::parse(y);";
    let names: Vec<_> = named_modules(code).into_iter().collect();
    assert_eq!(names, ["clock", "json", "policy", "store"]);
}

#[test]
fn modules_import_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut checked = 0;
    let mut upward = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src/");
        let top = rel.iter().next().and_then(|c| c.to_str()).expect("a file name");
        let module = top.strip_suffix(".rs").unwrap_or(top);
        if module == "lib" || module == "main" {
            continue;
        }
        let own =
            layer(module).unwrap_or_else(|| panic!("module `{module}` is in no layer: add it to LAYERS"));
        let code = without_comments(&std::fs::read_to_string(file).expect("a readable source file"));
        for named in named_modules(&code) {
            if named == module {
                continue;
            }
            let theirs =
                layer(&named).unwrap_or_else(|| panic!("{}: `crate::{named}` is in no layer", rel.display()));
            if theirs <= own {
                upward.push(format!("{}: {module} imports {named}", rel.display()));
            }
        }
        checked += 1;
    }
    assert!(checked > 50, "only {checked} files were read from {}", src.display());
    assert!(upward.is_empty(), "imports that do not go downward:\n{}", upward.join("\n"));
}
