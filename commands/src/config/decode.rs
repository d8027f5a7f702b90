//! Text and environment variables to a [`Config`], collecting every problem on the way.
//!
//! Each section and each `[[envs]]`/`[[pools]]` entry is decoded on its own, so one bad value does
//! not hide the rest; when an entry fails, its keys are retried one by one to name each bad key,
//! and the entry is rebuilt from the good ones so the semantic checks still see it.

use std::collections::{HashMap, HashSet};

use serde::de::{self, DeserializeOwned, Visitor};
use serde::Deserialize;
use toml::{Table, Value};

// Also the config's checks' "did you mean" (`check.rs` reaches it through here).
pub(super) use crate::domain::did_you_mean;

use super::{
    AdminConfig, ChatConfig, CiConfig, Config, ConfigErrors, Defaults, DiscordConfig, EnvConfig,
    FreezeWindowConfig, GithubConfig, GroupConfig, MattermostConfig, PoolConfig, Problem,
    RedisConfig, RolesConfig, ServerConfig, SlackConfig, TeamsConfig, WebConfig,
};

/// A `[section]` that environment variables may set. New sections join this list (and
/// [`decode`]) so their keys are known to overrides and unknown-key messages alike.
struct Section {
    name: &'static str,
    fields: fn() -> &'static [&'static str],
    accepts: fn(&str, &Value) -> bool,
}

impl Section {
    const fn of<T: DeserializeOwned>(name: &'static str) -> Self {
        Self {
            name,
            fields: field_names::<T>,
            accepts: accepts::<T>,
        }
    }
}

const SECTIONS: &[Section] = &[
    Section::of::<ServerConfig>("server"),
    Section::of::<RedisConfig>("redis"),
    Section::of::<Defaults>("defaults"),
    Section::of::<RolesConfig>("roles"),
    Section::of::<CiConfig>("ci"),
    Section::of::<ChatConfig>("chat"),
    Section::of::<SlackConfig>("slack"),
    Section::of::<DiscordConfig>("discord"),
    Section::of::<TeamsConfig>("teams"),
    Section::of::<MattermostConfig>("mattermost"),
    Section::of::<AdminConfig>("admin"),
    Section::of::<GithubConfig>("github"),
    Section::of::<WebConfig>("web"),
];

/// Arrays of tables: configured only in the file, because `BATON_ENVS__…` has no way to say which.
const LISTS: [&str; 4] = ["envs", "pools", "freezes", "groups"];

/// What turns a path like `envs[1].max_ttl` into a line, or into the variable that set it.
#[derive(Default)]
pub(super) struct Ctx {
    lines: Lines,
    overridden: HashMap<String, String>,
    /// Every `section.key` the document sets, from the file or a variable.
    present: HashSet<String>,
    /// Original `[[envs]]` index of each decoded env (entries that failed to decode are dropped).
    env_idx: Vec<usize>,
    pool_idx: Vec<usize>,
    freeze_idx: Vec<usize>,
    group_idx: Vec<usize>,
}

impl Ctx {
    /// Whether the document sets `section.key` at all, from the file or a variable.
    pub(super) fn present(&self, path: &str) -> bool {
        self.present.contains(path)
    }

    /// Whether `path` was set by an environment variable rather than the file.
    pub(super) fn set_by_env(&self, path: &str) -> bool {
        self.overridden.contains_key(path)
    }

    pub(super) fn problem(&self, path: &str, message: impl Into<String>) -> Problem {
        match self.overridden.get(path) {
            Some(var) => Problem {
                line: None,
                message: format!("{var}: {}", message.into()),
            },
            None => Problem {
                line: self.lines.find(path),
                message: message.into(),
            },
        }
    }

    pub(super) fn line(&self, path: &str) -> Option<usize> {
        self.lines.find(path)
    }

    /// Whether the file writes exactly `path` (not only a table around it).
    pub(super) fn written(&self, path: &str) -> bool {
        self.lines.0.contains_key(path)
    }

    pub(super) fn env_path(&self, i: usize) -> String {
        format!("envs[{}]", self.env_idx.get(i).copied().unwrap_or(i))
    }

    pub(super) fn pool_path(&self, i: usize) -> String {
        format!("pools[{}]", self.pool_idx.get(i).copied().unwrap_or(i))
    }

    pub(super) fn freeze_path(&self, i: usize) -> String {
        format!("freezes[{}]", self.freeze_idx.get(i).copied().unwrap_or(i))
    }

    pub(super) fn group_path(&self, i: usize) -> String {
        format!("groups[{}]", self.group_idx.get(i).copied().unwrap_or(i))
    }
}

pub(super) fn build(
    source: String,
    text: &str,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigErrors> {
    let (doc, syntax) = toml::de::DeTable::parse_recoverable(text);
    let parsed = match syntax.is_empty() {
        true => Table::deserialize(toml::de::Deserializer::from(doc)).map_err(|e| vec![e]),
        false => Err(syntax),
    };
    let mut root = match parsed {
        Ok(root) => root,
        Err(errors) => {
            let problems = errors
                .iter()
                .map(|e| Problem {
                    line: e.span().map(|s| line_at(text, s.start)),
                    message: format!("invalid TOML: {}", e.message()),
                })
                .collect();
            return Err(ConfigErrors { source, problems });
        }
    };
    let mut problems = Vec::new();
    let mut ctx = Ctx {
        lines: Lines::scan(text),
        ..Ctx::default()
    };
    ctx.overridden = apply_overrides(&mut root, vars, &mut problems);
    let config = decode(root, &mut ctx, &mut problems);
    problems.extend(config.check(&ctx));
    if problems.is_empty() {
        return Ok(config);
    }
    problems.sort_by_key(|p| (p.line.is_none(), p.line));
    Err(ConfigErrors { source, problems })
}

fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Sets `BATON_<SECTION>__<KEY>` values into the document and returns which variable set each path.
fn apply_overrides(
    root: &mut Table,
    vars: impl IntoIterator<Item = (String, String)>,
    out: &mut Vec<Problem>,
) -> HashMap<String, String> {
    let mut set_by = HashMap::new();
    let mut problem = |message: String| {
        out.push(Problem {
            line: None,
            message,
        })
    };
    for (var, raw) in vars {
        let Some((section, key)) = var.strip_prefix("BATON_").and_then(|r| r.split_once("__"))
        else {
            continue;
        };
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        if LISTS.contains(&section.as_str()) {
            problem(format!(
                "{var}: [[{section}]] cannot be set from the environment; list them in the config file"
            ));
            continue;
        }
        let Some(sec) = SECTIONS.iter().find(|s| s.name == section) else {
            let known: Vec<&str> = SECTIONS.iter().map(|s| s.name).collect();
            let hint = did_you_mean(&section, &known).map(|k| format!("; did you mean `{k}`?"));
            problem(format!(
                "{var}: unknown section `{section}`{} (sections that can be set from the environment: {})",
                hint.unwrap_or_default(),
                known.join(", ")
            ));
            continue;
        };
        let fields = (sec.fields)();
        if !fields.contains(&key.as_str()) {
            let label = format!("in [{section}]");
            problem(format!("{var}: {}", unknown_key(&key, &label, fields)));
            continue;
        }
        let Some(table) = root
            .entry(section.clone())
            .or_insert_with(|| Value::Table(Table::new()))
            .as_table_mut()
        else {
            problem(format!("{var}: cannot set a key in `{section}`: the file makes it a value, not a [{section}] table"));
            continue;
        };
        table.insert(
            key.clone(),
            override_value(&raw, |v| (sec.accepts)(&key, v)),
        );
        set_by.insert(format!("{section}.{key}"), var);
    }
    set_by
}

/// A TOML value if the text is one (`5`, `true`, `["a","b"]`), else a string; when the key takes
/// neither, a comma-separated list, so `BATON_ROLES__ADMIN=slack:U1,slack:U2` works unquoted.
fn override_value(raw: &str, accepts: impl Fn(&Value) -> bool) -> Value {
    let list = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| Value::String(s.into()))
        .collect();
    let mut candidates: Vec<Value> = raw.parse::<Value>().into_iter().collect();
    candidates.extend([Value::String(raw.into()), Value::Array(list)]);
    let chosen = candidates.iter().position(accepts).unwrap_or(0);
    candidates.swap_remove(chosen)
}

fn decode(mut root: Table, ctx: &mut Ctx, out: &mut Vec<Problem>) -> Config {
    let top: Vec<&str> = SECTIONS.iter().map(|s| s.name).chain(LISTS).collect();
    for (name, value) in &root {
        if let Value::Table(t) = value {
            ctx.present
                .extend(t.keys().map(|key| format!("{name}.{key}")));
        }
    }
    for key in root.keys().filter(|k| !top.contains(&k.as_str())) {
        out.push(ctx.problem(key, unknown_key(key, "at the top level", &top)));
    }
    let named = Table::from_iter([("name".to_string(), Value::String("x".into()))]);
    let (envs, env_idx) = list::<EnvConfig>(root.remove("envs"), "envs", &named, ctx, out);
    let (pools, pool_idx) = list::<PoolConfig>(root.remove("pools"), "pools", &named, ctx, out);
    let mut window = named.clone();
    window.insert("envs".into(), Value::Array(Vec::new()));
    let (freezes, freeze_idx) =
        list::<FreezeWindowConfig>(root.remove("freezes"), "freezes", &window, ctx, out);
    let (groups, group_idx) =
        list::<GroupConfig>(root.remove("groups"), "groups", &window, ctx, out);
    let config = Config {
        server: section(root.remove("server"), "server", ctx, out),
        redis: section(root.remove("redis"), "redis", ctx, out),
        defaults: section(root.remove("defaults"), "defaults", ctx, out),
        roles: section(root.remove("roles"), "roles", ctx, out),
        ci: section(root.remove("ci"), "ci", ctx, out),
        chat: section(root.remove("chat"), "chat", ctx, out),
        slack: section(root.remove("slack"), "slack", ctx, out),
        discord: section(root.remove("discord"), "discord", ctx, out),
        teams: section(root.remove("teams"), "teams", ctx, out),
        mattermost: section(root.remove("mattermost"), "mattermost", ctx, out),
        admin: section(root.remove("admin"), "admin", ctx, out),
        github: section(root.remove("github"), "github", ctx, out),
        web: section(root.remove("web"), "web", ctx, out),
        envs,
        pools,
        freezes,
        groups,
    };
    (ctx.env_idx, ctx.pool_idx, ctx.freeze_idx) = (env_idx, pool_idx, freeze_idx);
    ctx.group_idx = group_idx;
    config
}

fn section<T: DeserializeOwned + Default>(
    value: Option<Value>,
    name: &str,
    ctx: &Ctx,
    out: &mut Vec<Problem>,
) -> T {
    match value {
        None => T::default(),
        Some(Value::Table(t)) => {
            let label = format!("in [{name}]");
            entry(t, name, &label, &Table::new(), ctx, out).unwrap_or_default()
        }
        Some(other) => {
            let message = format!(
                "`{name}` must be a [{name}] table, not {}",
                other.type_str()
            );
            out.push(ctx.problem(name, message));
            T::default()
        }
    }
}

/// Decodes an array of tables; also returns each decoded entry's index in the file.
fn list<T: DeserializeOwned>(
    value: Option<Value>,
    name: &str,
    skeleton: &Table,
    ctx: &Ctx,
    out: &mut Vec<Problem>,
) -> (Vec<T>, Vec<usize>) {
    let items = match value {
        None => return (Vec::new(), Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            let message = format!(
                "`{name}` must be [[{name}]] tables, not {}",
                other.type_str()
            );
            out.push(ctx.problem(name, message));
            return (Vec::new(), Vec::new());
        }
    };
    let label = format!("in [[{name}]]");
    let mut decoded = (Vec::new(), Vec::new());
    for (i, item) in items.into_iter().enumerate() {
        let path = format!("{name}[{i}]");
        let Value::Table(t) = item else {
            out.push(ctx.problem(&path, format!("`{path}` must be a table")));
            continue;
        };
        if let Some(v) = entry(t, &path, &label, skeleton, ctx, out) {
            decoded.0.push(v);
            decoded.1.push(i);
        }
    }
    decoded
}

/// Decodes one table, reporting unknown keys and every bad value. `skeleton` supplies placeholder
/// required fields so each key can be tried alone.
fn entry<T: DeserializeOwned>(
    table: Table,
    path: &str,
    label: &str,
    skeleton: &Table,
    ctx: &Ctx,
    out: &mut Vec<Problem>,
) -> Option<T> {
    let mut unknown = Vec::new();
    let whole =
        serde_ignored::deserialize(Value::Table(table.clone()), |p| unknown.push(p.to_string()));
    let result = match whole {
        Ok(v) => Some(v),
        Err(whole) => {
            unknown.clear();
            let (mut good, before) = (table.clone(), out.len());
            for (key, value) in table {
                let mut alone = skeleton.clone();
                alone.insert(key.clone(), value);
                let tried = serde_ignored::deserialize::<_, _, T>(Value::Table(alone), |p| {
                    unknown.push(p.to_string())
                });
                if let Err(e) = tried {
                    let at = format!("{path}.{key}");
                    out.push(ctx.problem(&at, format!("`{at}`: {}", e.message())));
                    good.remove(&key);
                }
            }
            let rebuilt = T::deserialize(Value::Table(good)).ok();
            if rebuilt.is_none() && out.len() == before {
                out.push(ctx.problem(path, format!("`{path}`: {}", whole.message())));
            }
            rebuilt
        }
    };
    let known = field_names::<T>();
    for key in unknown {
        let at = format!("{path}.{key}");
        out.push(ctx.problem(&at, unknown_key(&at, label, known)));
    }
    result
}

fn unknown_key(key: &str, label: &str, known: &[&str]) -> String {
    let last = key.rsplit(['.', ']']).next().unwrap_or(key);
    let hint = did_you_mean(last, known).map(|k| format!("; did you mean `{k}`?"));
    let (hint, known) = (hint.unwrap_or_default(), known.join(", "));
    format!("unknown key `{key}`{hint} (known keys {label}: {known})")
}

/// Whether `key = value` alone decodes as a `T`: how overrides pick between a number and a string.
fn accepts<T: DeserializeOwned>(key: &str, value: &Value) -> bool {
    let table = Table::from_iter([(key.to_string(), value.clone())]);
    T::deserialize(Value::Table(table)).is_ok()
}

/// The keys a struct's `Deserialize` knows, asked of serde itself so no list is written twice.
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Grab<'a>(&'a mut &'static [&'static str]);
    impl<'de> de::Deserializer<'de> for Grab<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("fields grabbed"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Grab(&mut fields));
    fields
}

/// Best-effort map from key paths (`server.listen`, `envs[1].name`) to the line that writes them.
/// TOML errors carry spans, but decoded values do not, so the text is scanned once by hand.
#[derive(Default)]
struct Lines(HashMap<String, usize>);

impl Lines {
    fn scan(text: &str) -> Self {
        let (mut map, mut counts) = (HashMap::new(), HashMap::<String, usize>::new());
        let (mut table, mut in_multiline) = (String::new(), false);
        for (n, line) in text.lines().enumerate() {
            let (t, ln) = (line.trim(), n + 1);
            let toggles = (t.matches("\"\"\"").count() + t.matches("'''").count()) % 2 == 1;
            if in_multiline {
                in_multiline = !toggles;
                continue;
            }
            if let Some(rest) = t.strip_prefix("[[") {
                let name =
                    key_path(rest.split("]]").next().unwrap_or_default()).unwrap_or_default();
                let count = counts.entry(name.clone()).or_default();
                table = format!("{name}[{count}]");
                *count += 1;
                map.entry(name).or_insert(ln);
                map.entry(table.clone()).or_insert(ln);
            } else if let Some(rest) = t.strip_prefix('[') {
                table = key_path(rest.split(']').next().unwrap_or_default()).unwrap_or_default();
                map.entry(table.clone()).or_insert(ln);
            } else if let Some(key) = t.split_once('=').and_then(|(k, _)| key_path(k)) {
                let full = match table.is_empty() {
                    true => key,
                    false => format!("{table}.{key}"),
                };
                map.entry(full).or_insert(ln);
            }
            in_multiline = toggles;
        }
        Self(map)
    }

    /// The line of `path`, else of the nearest enclosing key or table that the text has.
    fn find(&self, mut path: &str) -> Option<usize> {
        loop {
            if let Some(&line) = self.0.get(path) {
                return Some(line);
            }
            path = &path[..path.rfind(['.', '['])?];
        }
    }
}

/// `a."b".c` as `a.b.c`, or `None` when the text is not a plain key (a comment, a string in an array).
fn key_path(raw: &str) -> Option<String> {
    let segments = raw.split('.').map(|seg| {
        let seg = seg.trim();
        let seg = seg
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(seg);
        let bare = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        (!seg.is_empty() && seg.chars().all(bare)).then_some(seg)
    });
    segments.collect::<Option<Vec<_>>>().map(|s| s.join("."))
}
