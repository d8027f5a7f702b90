use std::time::Duration;

use super::*;

fn name(s: &str) -> EnvName {
    EnvName::parse(s).unwrap()
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn problems(text: &str) -> Vec<Problem> {
    fixture();
    Config::from_toml_str(text).unwrap_err().problems
}

/// A chat front end as the adapters register theirs: `chat:U…` people in `chat-team:…` groups,
/// channels named by digits. The real platforms' rules are tested in their own folders.
static CHAT: fronts::Front = fronts::Front {
    name: "Chat",
    prefix: "chat",
    groups: &["chat-team"],
    example: "chat:U123",
    bare_user: |id| id.starts_with('U') && id.chars().all(|c| c.is_ascii_alphanumeric()),
    secrets: &[],
    channel: Some(
        |id| match !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) {
            true => Ok(()),
            false => Err("a Chat channel is named by its id, like `chat:1024`".into()),
        },
    ),
};

fn fixture() {
    fronts::register(&CHAT);
}

/// `(line, fragment)` pairs a test expects among the problems.
type Expected<'a> = &'a [(Option<usize>, &'a str)];

/// Asserts each `(line, fragment)` matches a distinct problem, and that nothing else was reported.
fn assert_problems(found: &[Problem], expected: Expected) {
    for (line, fragment) in expected {
        assert!(
            found
                .iter()
                .any(|p| p.line == *line && p.message.contains(fragment)),
            "expected {fragment:?} on line {line:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
}

#[test]
fn a_config_with_several_problems_reports_all_of_them_with_line_numbers() {
    let text = r#"servr = 1
[server]
listen = "127.0.0.1:8080"
lisen = "0.0.0.0:80"

[[envs]]
name = "prod"
default_ttl = "3h"
max_ttl = "2h"

[[envs]]
name = "canary"
protectd = true
default_ttl = "3x"

[[pools]]
name = "blue"
members = ["s1", "s2"]

[[pools]]
name = "green"
members = ["s2"]
"#;
    assert_problems(
        &problems(text),
        &[
            (Some(1), "unknown key `servr`; did you mean `server`?"),
            (Some(4), "unknown key `server.lisen`; did you mean `listen`? (known keys in [server]: listen, sweep_interval, status_page, header_timeout, max_connections, body_timeout, max_connections_per_address, max_event_streams, max_event_streams_per_address)"),
            (Some(8), "env `prod`: default_ttl 3h (set in [[envs]]) is above max_ttl 2h (set in [[envs]])"),
            (Some(13), "unknown key `envs[1].protectd`; did you mean `protected`?"),
            (Some(14), "`envs[1].default_ttl`: `3x` is not a duration"),
            (Some(22), "env `s2` is in two pools, `blue` and `green`"),
        ],
    );
}

#[test]
fn semantic_problems_name_what_to_fix() {
    let cases: &[(&str, &str, Expected)] = &[
        (
            "an env listed twice",
            "[[envs]]\nname = \"a\"\n[[envs]]\nname = \"a\"\n",
            &[(Some(4), "env `a` is listed twice in [[envs]] (first on line 1)")],
        ),
        (
            "a pool sharing an env's name, with no members",
            "[[envs]]\nname = \"a\"\n[[pools]]\nname = \"a\"\n",
            &[(Some(4), "same name as an env"), (Some(3), "pool `a` has no members")],
        ),
        (
            "a member twice and a pool inside a pool",
            "[[pools]]\nname = \"p\"\nmembers = [\"x\", \"x\"]\n[[pools]]\nname = \"q\"\nmembers = [\"p\"]\n",
            &[(Some(3), "`x` is listed twice in the members of pool `p`"), (Some(6), "which is a pool")],
        ),
        (
            "zero TTLs and a pool default above the default max",
            "[defaults]\nmax_ttl = \"0s\"\n[[pools]]\nname = \"p\"\nmembers = [\"x\"]\ndefault_ttl = \"9h\"\n",
            &[
                (Some(2), "`defaults.max_ttl` is 0s: a TTL must be at least 1s"),
                (Some(1), "[defaults] default_ttl 1h is above max_ttl 0s"),
                (Some(6), "env `x`: default_ttl 9h (from pool `p`) is above max_ttl 0s (from [defaults])"),
            ],
        ),
        (
            "limits out of range",
            "[defaults]\nhistory_length = 0\nqueue_limit = 1001\n",
            &[(Some(2), "history_length` is 0"), (Some(3), "queue_limit` is 1001")],
        ),
        (
            "a zero body deadline and connection budgets that would refuse everyone",
            "[server]\nbody_timeout = \"0s\"\nmax_connections_per_address = 0\nmax_event_streams_per_address = 0\n",
            &[
                (Some(2), "`server.body_timeout` must be more than zero"),
                (Some(3), "`server.max_connections_per_address` is 0: it would refuse every client"),
                (Some(4), "`server.max_event_streams_per_address` is 0"),
            ],
        ),
        (
            "a bad redis prefix and url",
            "[redis]\nprefix = \"a:{b}\"\nurl = \"http://x\"\n",
            &[(Some(2), "contains `:`"), (Some(3), "is not a Redis URL")],
        ),
        (
            "identities without a platform, with an unknown one, or without an id",
            "[roles]\nadmin = [\"U123\", \"chta:U1\"]\ndeployer = [\"ci:\", \"4242\", \":x\"]\n",
            &[
                (Some(2), "`U123` in roles.admin: write identities as `chat:U123`"),
                (Some(2), "unknown platform `chta`; did you mean `chat`? (use chat, chat-team, ci, console, github)"),
                (Some(3), "the id after `ci:` is empty"),
                (Some(3), "`4242` in roles.deployer: write identities as `platform:id`, like `chat:U123`, `ci:deploy-bot` or `console:alice`"),
                (Some(3), "the platform before `:` is empty"),
            ],
        ),
        (
            "a bad env name, a missing name and a section of the wrong shape",
            "server = 5\n[[envs]]\nname = \"a b\"\n[[envs]]\nprotected = true\n",
            &[
                (Some(1), "`server` must be a [server] table, not integer"),
                (Some(3), "`a b` is not a valid environment name"),
                (Some(4), "`envs[1]`: missing field `name`"),
            ],
        ),
        (
            "broken TOML, every error",
            "[server\nlisten = \"127.0.0.1:80\"\n[redis]\nurl =\n",
            &[(Some(1), "invalid TOML: unclosed table"), (Some(4), "invalid TOML: string values must be quoted")],
        ),
    ];
    for (description, text, expected) in cases {
        eprintln!("case: {description}");
        assert_problems(&problems(text), expected);
    }
}

#[test]
fn env_overrides_win_over_the_file() {
    fixture();
    let path = std::env::temp_dir().join(format!("baton-config-test-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "[redis]\nurl = \"redis://file:1\"\nprefix = \"file\"\n",
    )
    .unwrap();
    let config = Config::load(
        Some(&path),
        vars(&[
            ("BATON_REDIS__URL", "redis://env:2"),
            ("BATON_server__Listen", "0.0.0.0:9000"),
            ("BATON_DEFAULTS__QUEUE_LIMIT", "5"),
            ("BATON_DEFAULTS__MAX_TTL", "12h"),
            ("BATON_REDIS__PREFIX", "2024"),
            ("BATON_ROLES__ADMIN", r#"["chat:U1", "console:bob"]"#),
            ("BATON_ROLES__DEPLOYER", "ci:deploy, chat:U2"),
            ("BATON_URL", "http://not-an-override"),
            ("PATH", "/usr/bin"),
        ]),
    );
    std::fs::remove_file(&path).unwrap();
    let config = config.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.redis.url, "redis://env:2");
    assert_eq!(
        config.redis.prefix, "2024",
        "a number-looking value is kept as the string the key needs"
    );
    assert_eq!(config.server.listen, "0.0.0.0:9000".parse().unwrap());
    assert_eq!(config.defaults.queue_limit, 5);
    assert_eq!(config.defaults.max_ttl, Duration::from_secs(12 * 3600));
    assert_eq!(config.roles.admin, ["chat:U1", "console:bob"]);
    assert_eq!(config.roles.deployer, ["ci:deploy", "chat:U2"]);
}

#[test]
fn overrides_that_name_nothing_or_carry_bad_values_are_reported() {
    let cases = [
        (
            "BATON_REDIS__URLL",
            "x",
            "BATON_REDIS__URLL: unknown key `urll`; did you mean `url`?",
        ),
        (
            "BATON_SRVER__LISTEN",
            "x",
            "BATON_SRVER__LISTEN: unknown section `srver`; did you mean `server`?",
        ),
        (
            "BATON_ENVS__NAME",
            "prod",
            "BATON_ENVS__NAME: [[envs]] cannot be set from the environment",
        ),
        (
            "BATON_DEFAULTS__QUEUE_LIMIT",
            "lots",
            "BATON_DEFAULTS__QUEUE_LIMIT: `defaults.queue_limit`: invalid type",
        ),
        (
            "BATON_REDIS__URL",
            "http://x",
            "BATON_REDIS__URL: `redis.url` `http://x` is not a Redis URL",
        ),
    ];
    for (var, value, expected) in cases {
        let err = Config::load(None, vars(&[(var, value)])).unwrap_err();
        assert_eq!(err.source, "<defaults>");
        assert_problems(&err.problems, &[(None, expected)]);
    }
}

#[test]
fn defaults_apply_with_no_file() {
    let config = Config::load(None, Vec::new()).unwrap();
    assert_eq!(config.server.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(config.server.sweep_interval, Duration::from_millis(500));
    assert_eq!(config.redis.url, "redis://127.0.0.1:6379");
    assert_eq!(config.redis.prefix, "baton");
    assert_eq!(config.redis.timeout, Duration::from_secs(2));
    assert_eq!(config.defaults.default_ttl, Duration::from_secs(3600));
    assert_eq!(config.defaults.max_ttl, Duration::from_secs(8 * 3600));
    assert_eq!(
        (config.defaults.history_length, config.defaults.queue_limit),
        (500, 20)
    );
    assert!(config.envs.is_empty() && config.pools.is_empty() && config.roles.admin.is_empty());
    assert!(Config::default().validate().is_empty());
}

#[test]
fn a_missing_file_is_one_problem_naming_the_path() {
    let path = std::path::Path::new("/nonexistent/baton.toml");
    let err = Config::load(Some(path), Vec::new()).unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert!(
        err.to_string().starts_with(
            "/nonexistent/baton.toml: cannot read config file /nonexistent/baton.toml"
        ),
        "{err}"
    );
}

#[test]
fn effective_ttls_resolve_env_then_pool_then_defaults() {
    let config = Config::from_toml_str(
        r#"
[defaults]
default_ttl = "1h"
max_ttl = "8h"

[[envs]]
name = "prod"
protected = true
default_ttl = "30m"

[[envs]]
name = "staging-1"
max_ttl = "3h"

[[pools]]
name = "staging"
members = ["staging-1", "staging-2"]
default_ttl = "2h"
max_ttl = "4h"
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let h = |n: u64| Duration::from_secs(n * 3600);
    let cases = [
        (
            "own default, defaults' max",
            "prod",
            true,
            Duration::from_secs(1800),
            h(8),
            None,
        ),
        (
            "own max, pool's default",
            "staging-1",
            false,
            h(2),
            h(3),
            Some("staging"),
        ),
        (
            "all from the pool",
            "staging-2",
            false,
            h(2),
            h(4),
            Some("staging"),
        ),
    ];
    for (description, env, protected, default_ttl, max_ttl, pool) in cases {
        let expected = EnvSettings {
            name: name(env),
            protected,
            default_ttl,
            max_ttl,
            pool: pool.map(name),
            announce: Vec::new(),
            remind_before: None,
            approvals: 0,
            approval_timeout: crate::config::DEFAULT_APPROVAL_TIMEOUT,
        };
        assert_eq!(
            config.env_settings(&name(env)),
            Some(expected),
            "{description}"
        );
    }
    assert_eq!(config.env_settings(&name("elsewhere")), None);
    assert_eq!(
        config.pool_of(&name("staging-2")).unwrap().name,
        name("staging")
    );
    let order: Vec<String> = config
        .all_envs()
        .iter()
        .map(|e| e.name.to_string())
        .collect();
    assert_eq!(order, ["prod", "staging-1", "staging-2"]);
}

#[test]
fn errors_display_one_line_per_problem() {
    let err = ConfigErrors {
        source: "config.toml".into(),
        problems: vec![
            Problem {
                line: Some(12),
                message: "unknown key `servr`".into(),
            },
            Problem {
                line: None,
                message: "BATON_X__Y: unknown key `y`".into(),
            },
        ],
    };
    assert_eq!(
        err.to_string(),
        "config.toml:12: unknown key `servr`\nconfig.toml: BATON_X__Y: unknown key `y`"
    );
}

#[test]
fn announcement_channels_and_reminders_resolve_env_then_pool_then_defaults() {
    fixture();
    let config = Config::from_toml_str(
        r#"
[defaults]
remind_before = "15m"

[[envs]]
name = "prod"
announce = ["chat:1024", "chat:2048"]
remind_before = "5m"

[[envs]]
name = "staging-2"
announce = []

[[pools]]
name = "staging"
members = ["staging-1", "staging-2"]
announce = ["chat:4096"]
remind_before = "10m"
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let env = |n: &str| config.env_settings(&name(n)).unwrap();
    let min = |m: u64| Some(Duration::from_secs(m * 60));
    assert_eq!(env("prod").announce, ["chat:1024", "chat:2048"]);
    assert_eq!(env("prod").remind_before, min(5));
    assert_eq!(env("staging-1").announce, ["chat:4096"]);
    assert_eq!(env("staging-1").remind_before, min(10));
    assert!(
        env("staging-2").announce.is_empty(),
        "an empty list silences a member"
    );
}

#[test]
fn bad_announcement_channels_and_late_reminders_are_reported() {
    let text = r##"[defaults]
max_ttl = "1h"
remind_before = "2h"

[[envs]]
name = "prod"
announce = ["#deploys", "chat:1024", "chat:1024", "chat:C1", "teams:x"]
remind_before = "0s"

[[pools]]
name = "staging"
members = ["s1", "s2"]
default_ttl = "10m"
max_ttl = "30m"
remind_before = "45m"
"##;
    assert_problems(
        &problems(text),
        &[
            (Some(3), "[defaults] remind_before 2h is not below max_ttl 1h"),
            (Some(7), "`#deploys` in envs[0].announce: write announcement channels as `chat:<channel id>`"),
            (Some(7), "`chat:1024` is listed twice"),
            (Some(7), "`chat:C1` in envs[0].announce: a Chat channel is named by its id"),
            (Some(7), "`teams:x` in envs[0].announce: write announcement channels as"),
            (Some(8), "`envs[0].remind_before` must be at least 1s"),
            (Some(15), "env `s1`: remind_before 45m (from pool `staging`) is not below max_ttl 30m (from pool `staging`)"),
        ],
    );
}

#[test]
fn approvals_are_asked_of_a_few_people_with_time_to_answer() {
    let found = problems("[[envs]]\nname = \"prod\"\napprovals = 9\napproval_timeout = \"1s\"\n");
    let text: Vec<&str> = found.iter().map(|p| p.message.as_str()).collect();
    assert!(
        text.iter()
            .any(|m| m.contains("`envs[0].approvals` is 9: at most 5")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|m| m.contains("`envs[0].approval_timeout` is 1s: give people at least 10s")),
        "{text:?}"
    );
    let fine = Config::from_toml_str("[[envs]]\nname = \"prod\"\napprovals = 2\n").unwrap();
    let prod = fine.env_settings(&name("prod")).unwrap();
    assert_eq!(prod.approvals, 2);
    assert_eq!(
        prod.approval_timeout,
        crate::config::DEFAULT_APPROVAL_TIMEOUT
    );
}
