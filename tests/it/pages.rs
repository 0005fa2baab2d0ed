//! The admin pages as people see them: the dashboard and a PR's decision page, loaded in a
//! real headless browser (Debian's `chromium`, installed by `.ci/run`) from a gate deciding
//! against the simulator. The rendered text is checked, no script error may occur, and the
//! screenshots stay under `target/pages/` for people to look at. Also: statuses link to the
//! decision page, and the pages are rebuilt after a restart.

use std::path::PathBuf;
use std::process::Command;

use crate::common::harness::*;
use serde_json::Value;

const AGENT: &str = "agent-token";
const PUBLIC_URL: &str = "https://prgate.example/admin";

/// Where the screenshots go: `target/pages/`, under `CARGO_TARGET_DIR` when it is set.
fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("pages");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What a browser shows of `url`: its DOM after load, and the browser's console log. A
/// screenshot of it is written to `target/pages/<name>.png`.
async fn browse(url: &str, name: &str) -> (String, String) {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            Command::new("sh")
                .args(["-c", &format!("command -v {c}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("chromium is not installed: `apt-get install chromium` (.ci/run does)");
    let profile = tempfile::tempdir().unwrap();
    let shot = artifacts().join(format!("{name}.png"));
    let run = |extra: Vec<String>| {
        let mut args = vec![
            "--headless".to_string(),
            // Tests run as root in containers, where Chromium's sandbox cannot start.
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--no-first-run".into(),
            "--enable-logging=stderr".into(),
            "--v=0".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        args.extend(extra);
        args.push(url.to_string());
        tokio::process::Command::new(chromium)
            .args(&args)
            .kill_on_drop(true)
            .output()
    };
    let dom = run(vec!["--dump-dom".into()]).await.unwrap();
    let shot_out = run(vec![
        format!("--screenshot={}", shot.display()),
        "--window-size=1280,1400".into(),
        "--hide-scrollbars".into(),
    ])
    .await
    .unwrap();
    assert!(dom.status.success(), "chromium failed on {url}: {dom:?}");
    assert!(
        std::fs::metadata(&shot).is_ok_and(|m| m.len() > 1000),
        "no screenshot of {url}: {}",
        String::from_utf8_lossy(&shot_out.stderr)
    );
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&dom.stderr),
        String::from_utf8_lossy(&shot_out.stderr)
    );
    (String::from_utf8_lossy(&dom.stdout).into_owned(), log)
}

/// The DOM as text a person reads: tags dropped, entities decoded, whitespace collapsed.
fn visible_text(dom: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    let mut skip = false;
    let lower = dom.to_lowercase();
    let mut i = 0;
    let bytes: Vec<char> = dom.chars().collect();
    let lower: Vec<char> = lower.chars().collect();
    while i < bytes.len() {
        let c = bytes[i];
        if c == '<' {
            let rest: String = lower[i..(i + 7).min(lower.len())].iter().collect();
            if rest.starts_with("<style") || rest.starts_with("<title") {
                skip = true;
            } else if rest.starts_with("</style") || rest.starts_with("</title") {
                skip = false;
            }
            in_tag = true;
            out.push(' ');
        } else if c == '>' && in_tag {
            in_tag = false;
        } else if !in_tag && !skip {
            out.push(c);
        }
        i += 1;
    }
    let decoded = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn assert_no_script_error(dom: &str, log: &str) {
    assert!(
        !dom.contains("<script"),
        "the pages carry no scripts: {dom}"
    );
    for bad in ["Uncaught", "SyntaxError", "TypeError", "ReferenceError"] {
        assert!(!log.contains(bad), "script error in the browser: {log}");
    }
}

/// Waits until the page at `url` shows `needle`; returns its text.
async fn wait_for_text(w: &World, url: &str, needle: &str) -> String {
    let mut text = String::new();
    for _ in 0..500 {
        let body = w.http.get(url).send().await.unwrap().text().await.unwrap();
        text = visible_text(&body);
        if text.contains(needle) {
            return text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!(
        "{url} never showed {needle:?}:
{text}"
    );
}

async fn statuses(w: &World, sha: &str) -> Vec<Value> {
    w.api(
        "root-token",
        reqwest::Method::GET,
        &format!("/repos/{REPO}/commits/{sha}/statuses"),
        None,
    )
    .await
    .1
    .as_array()
    .cloned()
    .unwrap_or_default()
}

fn target_of(statuses: &[Value], context: &str) -> String {
    statuses
        .iter()
        .find(|s| s["context"] == context)
        .and_then(|s| s["target_url"].as_str())
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_and_a_decision_page_in_a_browser() {
    let w = World::start_without_gate(POLICY).await;
    let mut config = gate_config(&w.sim.api_url, &w.data_dir, &["main"]);
    config.public_url = Some(PUBLIC_URL.into());
    config.executors.insert(
        "firewall".into(),
        firewall_executor(&w.exec_dir(), &ExecSettings::default()),
    );
    let w = w.with_gate(config.clone(), test_client_options()).await;

    // An agent's change whose run will fail (`sleep` refuses the word), with a title that
    // must be shown as text, never as markup.
    let head = w.commit_and_push(
        "open-443",
        &[
            ("firewall/rules.toml", "allow = [22, 443]\n"),
            ("firewall/sleep", "a-while\n"),
        ],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "open 443",
    );
    let n = w
        .open_pr(AGENT, "open-443", "main", "Open <b>443</b> & log")
        .await;
    w.settle().await;
    // bob is no approver of the firewall rule: his approval does not count.
    w.approve("bob-token", n).await;
    w.settle().await;
    assert_eq!(w.approval(&head).await.unwrap().0, "pending");
    let page = format!("{PUBLIC_URL}/pulls/{REPO}/{n}");
    assert_eq!(
        target_of(&statuses(&w, &head).await, "prgate/approval"),
        page
    );

    let admin = w.gate().admin_url();
    let (dom, log) = browse(&format!("{admin}/pulls/{REPO}/{n}"), "pull-pending").await;
    assert_no_script_error(&dom, &log);
    let text = visible_text(&dom);
    for needle in [
        &format!("{REPO}#{n}: Open <b>443</b> & log"),
        "firewall alice, release-bot, helper[bot] or acme/netops 1 none yet no firewall",
        "bob approved",
        "does not count: bob is not a designated approver of firewall",
        "ops-agent[bot]",
        &head,
        "Once merged, the executor firewall runs.",
    ] {
        assert!(text.contains(needle), "page lacks {needle:?}:\n{text}");
    }
    // The PR and its head link to the code host.
    let html_url = w.pull(n).await["html_url"].as_str().unwrap().to_string();
    assert!(dom.contains(&format!("href=\"{html_url}\"")), "{dom}");
    assert!(dom.contains("/commit/"), "{dom}");

    // alice approves: prgate merges, the run fails, and both pages say so.
    let review = w.approve("alice-token", n).await;
    w.settle().await;
    let merge = w.pull(n).await["merge_commit_sha"]
        .as_str()
        .expect("merged")
        .to_string();
    let (state, _) = w.execution_result(&merge).await;
    assert_eq!(state, "failure");
    assert_eq!(
        target_of(&statuses(&w, &merge).await, "prgate/execution"),
        page
    );

    // The dashboard learns of the run just after its status is posted.
    wait_for_text(&w, &format!("{admin}/pulls/{REPO}/{n}"), "failed").await;
    let (dom, log) = browse(&format!("{admin}/pulls/{REPO}/{n}"), "pull").await;
    assert_no_script_error(&dom, &log);
    let text = visible_text(&dom);
    for needle in [
        "success: approved by alice (firewall)",
        &format!("{review} alice approved"),
        "counts for firewall",
        &format!("Merged by prgate as {merge}"),
        "firewall",
        "failed",
    ] {
        assert!(text.contains(needle), "page lacks {needle:?}:\n{text}");
    }

    // A second change stays pending: the dashboard lists it with its title, agent and expiry.
    w.commit_and_push(
        "open-8443",
        &[("firewall/rules.toml", "allow = [22, 8443]\n")],
        "ops-agent[bot]",
        "ops-agent[bot]",
        "open 8443",
    );
    let pending = w.open_pr(AGENT, "open-8443", "main", "Open 8443").await;
    w.settle().await;
    let (dom, log) = browse(&format!("{admin}/"), "dashboard").await;
    assert_no_script_error(&dom, &log);
    let text = visible_text(&dom);
    for needle in [
        "Pending approvals (1)",
        &format!("{REPO}#{pending} ↗ Open 8443 ops-agent[bot]"),
        &format!("{REPO}#{n} ↗ Open <b>443</b> & log ops-agent[bot]"),
        "success approved by alice (firewall)",
        "Executions",
        "firewall",
        "failed",
    ] {
        assert!(text.contains(needle), "dashboard lacks {needle:?}:\n{text}");
    }
    // Expiry: 72h after the PR was opened.
    let created: chrono::DateTime<chrono::Utc> = w.pull(pending).await["created_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let expires =
        (created + chrono::Duration::hours(72)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(text.contains(&expires), "no expiry {expires}:\n{text}");
    assert!(
        dom.contains(&format!("href=\"pulls/{REPO}/{pending}\"")),
        "{dom}"
    );
    assert_eq!(text.matches(&format!("{REPO}#{n} ")).count(), 2, "{text}");

    // The public listener shows none of it.
    for path in ["/", "/metrics", &format!("/pulls/{REPO}/{n}")] {
        let status = w
            .http
            .get(format!("{}{path}", w.gate().url()))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404, "{path}");
    }

    // After a restart the pages are rebuilt from the code host: the reconciler's first pass
    // evaluates the open PR, and the executor's pass finds the failed run's record.
    let mut w = w;
    if let Some(g) = w.gate.take() {
        g.shutdown().await;
    }
    let gate = prgate::serve::start(config, test_client_options())
        .await
        .unwrap();
    let admin = gate.admin_url();
    w.gate = Some(gate);
    let text = wait_for_text(&w, &format!("{admin}/"), "Pending approvals (1)").await;
    assert!(
        text.contains(&format!("{REPO}#{pending} ↗ Open 8443 ops-agent[bot]")),
        "not rebuilt after the restart:\n{text}"
    );
    wait_for_text(&w, &format!("{admin}/"), "failed").await;
    w.shutdown().await;
}
