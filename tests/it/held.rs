//! A reload that removes or renames a destination holds its queued deliveries (status `held`,
//! shown by `hookroute deliveries`, the admin API and the dashboard) instead of killing them;
//! they resume when the destination is back. `hookroute diff` warns before such a reload.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::cli::{BIN, text};
use crate::support::{App, Receiver, Reply, WAIT, eventually, rules};

fn inspection(id: u32) -> serde_json::Value {
    json!({"type": "inspection.updated", "payload": {"id": id}})
}

async fn wait_version(app: &App, old: &str) {
    let deadline = Instant::now() + WAIT;
    while app.reloader.current().load().version == old {
        assert!(Instant::now() < deadline, "rules not reloaded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn cli(args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(BIN).args(args).output().expect("run hookroute");
    let (stdout, stderr) = text(&out);
    (out.status.code(), stdout, stderr)
}

#[tokio::test]
async fn a_renamed_destination_holds_its_queue_until_it_is_back() {
    let slack = Receiver::start().await;
    let crm = Receiver::start().await;
    crm.set_default(Reply(503, None, "down"));
    let current = rules(&slack.url, &slack.url, &crm.url);
    let app = App::start(&current).await;
    for id in [1, 2] {
        assert_eq!(app.post_event(inspection(id)).await, 202);
    }
    crm.wait_for(2, WAIT).await;

    // The CRM destination is renamed: its two queued (failing) deliveries would be held.
    let renamed =
        current.replace("  crm:\n", "  crm-v2:\n").replace("      - to: crm\n", "      - to: crm-v2\n");
    assert!(renamed.contains("crm-v2:") && !renamed.contains("  crm:\n"));
    let dir = tempfile::tempdir().expect("tempdir");
    let new_path = dir.path().join("new.yaml");
    std::fs::write(&new_path, &renamed).expect("write");
    let new_path = new_path.to_str().expect("utf8");
    let (code, stdout, stderr) = cli(&["diff", "--rules", new_path, "--store", &app.store_url]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("! destination `crm` is not in")
            && stdout.contains("2 queued delivery(ies) would be held"),
        "{stdout}"
    );

    let old = app.reloader.current().load().version.clone();
    std::fs::write(&app.rules_path, &renamed).expect("reload");
    wait_version(&app, &old).await;
    let held = eventually("deliveries held", || async {
        let c = app.store.counts().await.expect("counts");
        (c.held == 2).then_some(c)
    })
    .await;
    assert_eq!((held.pending, held.failed), (0, 0), "{held:?}");
    let sent_before = crm.got().len();

    let (code, stdout, stderr) =
        cli(&["deliveries", "--store", &app.store_url, "--status", "held", "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let rows: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let rows = rows.as_array().expect("array");
    assert_eq!(rows.len(), 2, "{stdout}");
    for r in rows {
        assert_eq!((r["status"].as_str(), r["destination"].as_str()), (Some("held"), Some("crm")));
        let reason = r["last_error"].as_str().unwrap_or_default();
        assert!(
            reason.contains("is not in rules version") && reason.contains("held until it is back"),
            "{reason}"
        );
    }
    let api: serde_json::Value = app
        .client
        .get(format!("{}/api/deliveries?status=held", app.admin))
        .send()
        .await
        .expect("admin")
        .json()
        .await
        .expect("JSON");
    assert_eq!(api["deliveries"].as_array().map(Vec::len), Some(2), "{api}");
    let destinations: serde_json::Value = app
        .client
        .get(format!("{}/api/destinations", app.admin))
        .send()
        .await
        .expect("admin")
        .json()
        .await
        .expect("JSON");
    let shown =
        destinations["destinations"].as_array().expect("list").iter().find(|d| d["name"] == "crm").cloned();
    assert_eq!(shown.map(|d| (d["in_rules"].clone(), d["held"].clone())), Some((json!(false), json!(2))));

    // Held deliveries are not sent anywhere.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(crm.got().len(), sent_before, "a held delivery was sent");

    // The destination is back (fixed, answering 200): the held deliveries resume and are delivered.
    let fixed = Receiver::start().await;
    let old = app.reloader.current().load().version.clone();
    std::fs::write(&app.rules_path, rules(&slack.url, &slack.url, &fixed.url)).expect("reload");
    wait_version(&app, &old).await;
    let got = fixed.wait_for(2, WAIT).await;
    assert_eq!(got.len(), 2, "resumed deliveries not delivered");
    let counts = eventually("delivered", || async {
        let c = app.store.counts().await.expect("counts");
        (c.held == 0 && c.pending + c.failed == 0).then_some(c)
    })
    .await;
    crate::support::report(format_args!(
        "2 queued CRM deliveries held after the rename (none sent), delivered after it came back: {counts:?}"
    ));
}
