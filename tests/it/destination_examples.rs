//! The shipped examples of the issue-15 destination types compile: the commented ones in
//! `rules/house-check.yaml` once uncommented, and the README's destinations reference.

/// `rules/house-check.yaml` with its commented examples of the new types uncommented, and the
/// README's destinations example, compile without errors (so the examples do not rot).
#[test]
fn the_shipped_examples_of_the_new_types_compile() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("rules/house-check.yaml")).expect("read");
    let mut inside = false;
    let mut uncommented = 0;
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("# >>>") || l.trim_start().starts_with("# <<<") {
                inside = l.trim_start().starts_with("# >>>");
                return String::new();
            }
            match (inside, l.find("# ")) {
                (true, Some(i)) => {
                    uncommented += 1;
                    format!("{}{}", &l[..i], &l[i + 2..])
                }
                _ => l.to_owned(),
            }
        })
        .collect();
    assert!(uncommented > 40, "the examples are there ({uncommented} lines)");
    let yaml = lines.join("\n");
    let env = |name: &str| {
        Some(if name.ends_with("_URL") {
            "https://127.0.0.1:9/x".to_owned()
        } else {
            format!("{name}-value")
        })
    };
    let (config, _) = hookroute::config::compile_text_with_env(&yaml, "house-check.yaml", &env)
        .unwrap_or_else(|d| panic!("the uncommented examples fail:\n{d}\n{yaml}"));
    for (name, kind) in [
        ("ops-teams", "teams"),
        ("ops-discord", "discord"),
        ("ops-chat", "google-chat"),
        ("ops-mattermost", "mattermost"),
        ("ops-telegram", "telegram"),
        ("pager", "pagerduty"),
        ("relay-mail", "email"),
    ] {
        assert_eq!(config.destinations.get(name).map(|d| d.kind.name()), Some(kind), "{name}");
    }
    assert!(config.destinations["relay-mail"].smtp.is_some());

    let readme = std::fs::read_to_string(root.join("README.md")).expect("read");
    let section = &readme[readme.find("### Destinations reference").expect("the section")..];
    let start = section.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let block = &section[start..start + section[start..].find("```").expect("the block ends")];
    let (config, _) = hookroute::config::compile_text_with_env(block, "README.md", &env)
        .unwrap_or_else(|d| panic!("the README example fails:\n{d}"));
    assert_eq!(config.destinations.len(), 7);
}
