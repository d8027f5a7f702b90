//! What the scripts report about an env, decoded from their JSON answers. Times are Unix
//! milliseconds by Redis' clock.

use serde::{Deserialize, Deserializer, Serialize};

/// A deploy lock or a staging claim as people may see it (never its token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The holder's identity (`slack:U…`, `ci:…`).
    pub holder: String,
    /// How to show the holder.
    pub display: String,
    /// Why they hold it.
    #[serde(default)]
    pub reason: String,
    /// When they took it.
    #[serde(deserialize_with = "lua_int")]
    pub since: u64,
    /// When it ends unless extended.
    #[serde(deserialize_with = "lua_int")]
    pub expires: u64,
    /// The fencing token of this acquisition.
    #[serde(deserialize_with = "lua_int")]
    pub fence: u64,
}

/// A freeze window on an env.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freeze {
    /// Who froze it.
    pub by: String,
    /// How to show them.
    pub display: String,
    /// Why.
    #[serde(default)]
    pub reason: String,
    /// Since when.
    pub since: u64,
    /// Until when; 0 until someone unfreezes it.
    #[serde(rename = "until")]
    pub until: u64,
    /// `env` or `all`: how the freeze was made; `window` for the calendar's.
    #[serde(default)]
    pub scope: String,
    /// The calendar window (`[[freezes]]` name) this freeze is, if it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
}

impl Freeze {
    /// Who or what froze it, as a sentence says it: a person's name, or `the weekend freeze
    /// window` for the calendar's.
    pub fn by_whom(&self) -> String {
        match &self.window {
            Some(w) => format!("the `{w}` freeze window"),
            None => self.display.clone(),
        }
    }
}

/// Someone waiting in an env's queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiter {
    /// Their identity.
    pub holder: String,
    /// How to show them.
    pub display: String,
    /// Why they want the lock.
    #[serde(default)]
    pub reason: String,
    /// How long they will hold it, in ms.
    pub ttl: u64,
    /// When they joined.
    pub at: u64,
    /// The envs they wait for together (comma-joined), when they wait for a set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<String>,
}

/// Everything about one env at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvState {
    /// The env.
    pub env: String,
    /// Its deploy lock.
    #[serde(default)]
    pub lock: Option<Hold>,
    /// Its staging claim.
    #[serde(default)]
    pub claim: Option<Hold>,
    /// Its freeze.
    #[serde(default)]
    pub freeze: Option<Freeze>,
    /// Who waits for the lock, first first: the first page of the line (`settle.lua`), all of it
    /// when asked for all.
    #[serde(default, deserialize_with = "lua_list")]
    pub queue: Vec<Waiter>,
    /// How many wait (more than `queue` lists when the line is longer than a page).
    #[serde(default)]
    pub queued: usize,
    /// The last deploy recorded on it.
    #[serde(default, deserialize_with = "lua_record")]
    pub deploy: Option<LastDeploy>,
    /// The next scheduled freeze window that starts on it and is not skipped (from the calendar
    /// and `skips`, not the script).
    #[serde(default)]
    pub next_window: Option<NextWindow>,
    /// The calendar occurrences skipped on it (`skip:<window>@<start ms>`, its marks), when the
    /// read asked for them: what `next_window` passes over. Never shown.
    #[serde(default, skip_serializing, deserialize_with = "lua_list")]
    pub skips: Vec<String>,
    /// A set waiter heads its line and the env is free, but the call did not name the set's
    /// other envs (`set_turn` in prelude.lua): the sweeper settles the whole set. Never shown.
    #[serde(default, skip_serializing)]
    pub set_head: Option<String>,
}

impl EnvState {
    /// Whether the occurrence of `window` starting at `start_ms` was skipped on this env
    /// (`freeze skip`), as far as this read asked for the marks.
    pub fn skipped(&self, window: &str, start_ms: u64) -> bool {
        let mark = crate::windows::skip_mark(window, start_ms);
        self.skips.contains(&mark)
    }
}

/// A scheduled freeze window's next occurrence on an env.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextWindow {
    /// The window's name.
    pub name: String,
    /// Why.
    pub reason: String,
    /// When it starts (Unix ms).
    pub starts: u64,
    /// When it ends (Unix ms).
    pub ends: u64,
    /// The zone its times are configured in (`Europe/Berlin`).
    pub zone: String,
}

/// The last deploy recorded on an env (its hash, as `deploy.lua` writes it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastDeploy {
    /// The commit.
    #[serde(default)]
    pub sha: String,
    /// The version.
    #[serde(default)]
    pub version: String,
    /// A link to the deploy.
    #[serde(default)]
    pub url: String,
    /// Who recorded it (their identity).
    #[serde(default)]
    pub by: String,
    /// How to show them.
    #[serde(default)]
    pub display: String,
    /// When, by Redis' clock (ms).
    #[serde(default, deserialize_with = "ms_text")]
    pub at: u64,
}

impl LastDeploy {
    /// What was deployed: the version, or the commit when no version was given.
    pub fn what(&self) -> &str {
        if self.version.is_empty() {
            &self.sha
        } else {
            &self.version
        }
    }
}

/// A hash field holding milliseconds reads back as text: accept text or a number.
fn ms_text<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Ms {
        Number(u64),
        Text(String),
    }
    Ok(match Ms::deserialize(d)? {
        Ms::Number(n) => n,
        Ms::Text(t) => t.parse().unwrap_or(0),
    })
}

/// A hash read by a script: absent, or cjson's `{}` for an empty one, is none.
fn lua_record<'de, D: Deserializer<'de>>(d: D) -> Result<Option<LastDeploy>, D::Error> {
    Ok(Option::<LastDeploy>::deserialize(d)?.filter(|r| *r != LastDeploy::default()))
}

/// A whole number as the scripts answer it: a JSON number, or its digits as a string (prelude.lua's
/// `digits`: the hot answers skip cjson's slow number printing).
pub(crate) fn lua_int<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    struct Int;
    impl serde::de::Visitor<'_> for Int {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a whole number, or its digits")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(E::custom)
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u64, E> {
            if v >= 0.0 && v.fract() == 0.0 && v < u64::MAX as f64 {
                Ok(v as u64)
            } else {
                Err(E::custom(format!("{v} is not a whole number")))
            }
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u64, E> {
            v.parse().map_err(E::custom)
        }
    }
    let n = d.deserialize_any(Int)?;
    T::try_from(n).map_err(|_| serde::de::Error::custom(format!("{n} is out of range")))
}

/// Lua's cjson encodes an empty list as `{}`: accept that as an empty list.
pub(crate) fn lua_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrEmpty<T> {
        List(Vec<T>),
        Empty {},
    }
    Ok(match Option::<ListOrEmpty<T>>::deserialize(d)? {
        Some(ListOrEmpty::List(v)) => v,
        _ => Vec::new(),
    })
}
