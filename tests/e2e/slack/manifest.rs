//! `baton slack manifest`, run as the real binary.

use serde_json::{json, Value};

#[test]
fn baton_slack_manifest_prints_an_app_manifest_for_the_given_url() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["slack", "manifest", "--url", "https://baton.example.com"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: Value = serde_json::from_slice(&out.stdout).expect("the manifest is JSON");
    let command = &m["features"]["slash_commands"][0];
    assert_eq!(command["command"], "/baton");
    assert_eq!(command["url"], "https://baton.example.com/slack/commands");
    assert!(command["usage_hint"]
        .as_str()
        .unwrap()
        .contains("lock <env>"));
    assert_eq!(
        m["settings"]["interactivity"]["request_url"],
        "https://baton.example.com/slack/interactions"
    );
    assert_eq!(m["settings"]["socket_mode_enabled"], false);
    assert_eq!(
        m["oauth_config"]["scopes"]["bot"],
        json!(["commands", "chat:write", "im:write"])
    );

    let socket: Value =
        serde_json::from_slice(&run(&["slack", "manifest", "--socket-mode"]).stdout).unwrap();
    assert_eq!(socket["settings"]["socket_mode_enabled"], true);
    let bad = run(&["slack", "manifest", "--url", "http://baton.example.com"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("https"));
}

#[test]
fn a_name_with_spaces_keeps_the_app_name_and_gets_a_valid_bot_display_name() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["slack", "manifest", "--socket-mode", "--name", "Deploy Bot"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["display_information"]["name"], "Deploy Bot");
    // Slack's manifest schema: lowercase letters, digits, `-`, `_` and `.` only.
    assert_eq!(m["features"]["bot_user"]["display_name"], "deploy-bot");
}
