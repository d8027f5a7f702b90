//! `baton config check --reach-issuer`: the `[web]` issuer's discovery document, fetched.

use super::spawn_web;

fn check(issuer: &str) -> (i32, String, String) {
    let path = std::env::temp_dir().join(format!(
        "baton-web-check-{}-{}.toml",
        std::process::id(),
        issuer.len()
    ));
    let text = format!("[web]\nenabled = true\nissuer = \"{issuer}\"\nclient_id = \"baton\"\nbase_url = \"http://127.0.0.1:8080\"\n");
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["config", "check", "--reach-issuer", "--config"])
        .arg(&path)
        .env("BATON_WEB__CLIENT_SECRET", "never-printed-secret")
        .output()
        .expect("baton runs");
    let _ = std::fs::remove_file(&path);
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[tokio::test]
async fn config_check_reaches_the_issuer_when_asked_and_says_when_it_cannot() {
    let Some(web) = spawn_web(|_| {}).await else {
        return;
    };
    let (code, stdout, stderr) = check(&web.issuer);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("the issuer") && stdout.contains("offers RP-initiated logout"),
        "{stdout}"
    );

    // A wrong issuer: the provider answers with another name, or nothing answers at all.
    let (code, stdout, stderr) = check(&format!("{}/elsewhere", web.issuer));
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stderr.contains("web.issuer"), "{stderr}");
    let (code, _, stderr) = check("http://127.0.0.1:9");
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot reach"), "{stderr}");
    assert!(!format!("{stdout}{stderr}").contains("never-printed-secret"));
}
