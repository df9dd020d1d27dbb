//! Hot reload: in-place write, atomic rename, ConfigMap-style symlink swap, broken and deleted files,
//! and no failed request while rules are swapped.

use std::time::{Duration, Instant};

use hookroute::config::watch::ReloadOutcome;
use serde_json::json;

use crate::support::{App, Receiver, WAIT, rules};

/// Waits for the running version to change from `old`. The deadline only guards against a reload
/// that never comes; how fast reloads are is measured by `bench/run` (scenario 3), not here.
async fn wait_version_change(app: &App, old: &str) {
    let started = Instant::now();
    while app.reloader.current().load().version == old {
        assert!(started.elapsed() < WAIT, "rules were not reloaded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_outcome(app: &App, pred: impl Fn(&ReloadOutcome) -> bool) -> ReloadOutcome {
    let mut rx = app.reloader.outcomes();
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(o) = rx.borrow_and_update().clone()
            && pred(&o)
        {
            return o;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(tokio::time::timeout(left, rx.changed()).await.is_ok(), "no matching reload outcome");
    }
}

fn ready(id: u32) -> serde_json::Value {
    json!({"type": "order.updated", "payload": {"id": id, "status": "to schedule"}})
}

async fn setup() -> (App, Receiver, String) {
    let slack = Receiver::start().await;
    let other = Receiver::start().await;
    let text = rules(&slack.url, &other.url, &other.url);
    (App::start(&text).await, slack, text)
}

#[tokio::test]
async fn in_place_write_is_picked_up() {
    let (app, slack, text) = setup().await;
    let old = app.reloader.current().load().version.clone();
    std::fs::write(&app.rules_path, text.replace("is ready to schedule\"", "can be scheduled\""))
        .expect("write");
    wait_version_change(&app, &old).await;
    assert_eq!(app.post_event(ready(1)).await, 202);
    assert_eq!(slack.wait_for(1, WAIT).await[0].json(), json!({"text": "Order 1 can be scheduled"}));
}

#[tokio::test]
async fn atomic_rename_is_picked_up() {
    let (app, slack, text) = setup().await;
    let old = app.reloader.current().load().version.clone();
    let tmp = app.rules_path.with_file_name(".rules.yaml.tmp");
    std::fs::write(&tmp, text.replace("is ready to schedule\"", "renamed in\"")).expect("write");
    std::fs::rename(&tmp, &app.rules_path).expect("rename");
    wait_version_change(&app, &old).await;
    assert_eq!(app.post_event(ready(2)).await, 202);
    assert_eq!(slack.wait_for(1, WAIT).await[0].json(), json!({"text": "Order 2 renamed in"}));
}

#[tokio::test]
async fn broken_edit_keeps_the_old_rules_running() {
    let (app, slack, text) = setup().await;
    let old = app.reloader.current().load().version.clone();
    let broken = text.replace("to: ops-slack\n        text: \"Order", "to: nowhere\n        text: \"Order");
    std::fs::write(&app.rules_path, broken).expect("write");
    let outcome = wait_outcome(&app, |o| matches!(o, ReloadOutcome::Rejected { .. })).await;
    let ReloadOutcome::Rejected { reason } = outcome else { unreachable!() };
    assert!(reason.contains("unknown destination `nowhere`"), "{reason}");
    assert_eq!(app.reloader.current().load().version, old);
    assert_eq!(app.post_event(ready(3)).await, 202);
    assert_eq!(slack.wait_for(1, WAIT).await[0].json(), json!({"text": "Order 3 is ready to schedule"}));

    // A broken file that stays broken is reported once, not on every poll or watch event: watch
    // past two of the 1 s polls that would compile it again.
    let attempts = app.reloader.attempts();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(app.reloader.attempts(), attempts, "an unchanged broken file was compiled again");

    // Invalid YAML, then a deleted file: still the old rules.
    std::fs::write(&app.rules_path, "rules: [\n").expect("write");
    wait_outcome(
        &app,
        |o| matches!(o, ReloadOutcome::Rejected { reason } if !reason.contains("unknown destination")),
    )
    .await;
    std::fs::remove_file(&app.rules_path).expect("remove");
    wait_outcome(&app, |o| matches!(o, ReloadOutcome::Rejected { reason } if reason.contains("cannot read")))
        .await;
    assert_eq!(app.reloader.current().load().version, old);
    assert_eq!(app.post_event(ready(4)).await, 202);
    assert_eq!(slack.wait_for(2, WAIT).await.len(), 2);

    // Fixing the file brings reloads back.
    std::fs::write(&app.rules_path, text.replace("is ready to schedule\"", "is back\"")).expect("write");
    wait_version_change(&app, &old).await;
}

#[cfg(unix)]
#[tokio::test]
async fn configmap_symlink_swap_is_picked_up() {
    // Kubernetes mounts a ConfigMap as dir/rules.yaml -> ..data/rules.yaml, ..data -> ..2026_v1, and
    // updates it by pointing ..data at a new directory: the file's own path never changes.
    let (app, slack, text) = setup().await;
    let dir = app.rules_path.parent().expect("dir").to_owned();
    std::fs::create_dir(dir.join("v1")).expect("mkdir");
    std::fs::write(dir.join("v1/rules.yaml"), &text).expect("write");
    std::os::unix::fs::symlink("v1", dir.join("..data")).expect("symlink");
    std::fs::remove_file(&app.rules_path).expect("rm");
    std::os::unix::fs::symlink("..data/rules.yaml", &app.rules_path).expect("symlink");
    // The version is a hash of the text: the same rules behind a symlink keep it.
    let old = app.reloader.current().load().version.clone();

    std::fs::create_dir(dir.join("v2")).expect("mkdir");
    std::fs::write(dir.join("v2/rules.yaml"), text.replace("is ready to schedule\"", "via configmap\""))
        .expect("write");
    std::os::unix::fs::symlink("v2", dir.join("..data_tmp")).expect("symlink");
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).expect("swap");
    wait_version_change(&app, &old).await;
    assert_eq!(app.post_event(ready(5)).await, 202);
    assert_eq!(slack.wait_for(1, WAIT).await[0].json(), json!({"text": "Order 5 via configmap"}));
}

#[tokio::test]
async fn no_request_fails_while_rules_are_swapped() {
    const WRITES: usize = 10;
    let (app, slack, text) = setup().await;
    let variants = [text.replace("is ready to schedule\"", "swapped\""), text.clone()];
    let versions: Vec<String> = variants
        .iter()
        .map(|v| {
            hookroute::config::compile_text(v, "rules.yaml")
                .unwrap_or_else(|_| panic!("variant compiles"))
                .0
                .version
        })
        .collect();
    assert_ne!(versions[0], versions[1]);
    let writer = {
        let path = app.rules_path.clone();
        tokio::spawn(async move {
            for i in 0..WRITES {
                std::fs::write(&path, &variants[i % 2]).expect("write");
                // Longer than the watch's debounce, so each write is a swap of its own.
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
        })
    };
    let mut sent = 0;
    let mut swaps = 0;
    let mut running = app.reloader.current().load().version.clone();
    let started = Instant::now();
    while !writer.is_finished() && sent < 5000 && started.elapsed() < Duration::from_secs(20) {
        assert_eq!(app.post_event(ready(sent)).await, 202, "request {sent} failed during a swap");
        sent += 1;
        let now = app.reloader.current().load().version.clone();
        if now != running {
            assert!(versions.contains(&now), "an unexpected version {now} ran");
            swaps += 1;
            running = now;
        }
    }
    writer.await.expect("writer");
    assert!(sent > 10, "only {sent} requests were sent");
    assert!(swaps >= WRITES / 2, "only {swaps} swaps happened during the load ({WRITES} writes)");
    assert_eq!(slack.wait_for(sent as usize, WAIT).await.len(), sent as usize, "every event was delivered");
}

/// Reloads take turns: an admin reload that read a (slow to compile) file just before it changed,
/// racing the file change's reload, must not end with the older file running. The admin reload
/// goes first; the file change's reload waits its turn and reads the newest file.
#[tokio::test]
async fn an_admin_reload_racing_a_file_change_ends_on_the_file() {
    let (app, _slack, text) = setup().await;
    // Many rules: the old file compiles for much longer than the new one.
    let mut slow = text.clone();
    for i in 0..3000 {
        slow.push_str(&format!(
            "  - name: bulk-{i}\n    events: [\"bulk.{i}\"]\n    actions:\n      - to: crm\n"
        ));
    }
    let fast = text.replace("is ready to schedule\"", "can be scheduled\"");
    for round in 0..3 {
        std::fs::write(&app.rules_path, &slow).expect("write slow");
        let admin = {
            let (client, url) = (app.client.clone(), format!("{}/api/reload", app.admin));
            tokio::spawn(async move { client.post(url).json(&json!({})).send().await.expect("admin reload") })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        std::fs::write(&app.rules_path, &fast).expect("write fast");
        let by_file = {
            let reloader = std::sync::Arc::clone(&app.reloader);
            tokio::spawn(async move { reloader.reload("file change", false).await })
        };
        assert!(admin.await.expect("admin task").status().is_success());
        let _ = by_file.await.expect("file change task");
        let want = hookroute::config::load(&app.rules_path).expect("file compiles").config.version;
        let running = app.reloader.current().load().version.clone();
        crate::support::report(format_args!("round {round}: running {running}, file {want}"));
        assert_eq!(running, want, "round {round}: the older file won the race");
    }
}
