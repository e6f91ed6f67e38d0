//! `Config`: every `GANCHO_*` setting of DESIGN.md § Running, parsed once
//! into real types. Sources, strongest first: environment, `gancho.toml`
//! (same names in lowercase without the prefix), built-in defaults. A bad
//! value stops start-up with one line naming the variable.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A secret string whose `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("****")
    }
}

/// Where data lives.
#[derive(Debug, Clone, PartialEq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH`: one file, created if missing.
    Sqlite(PathBuf),
    /// `postgres://...` (a later issue adds the backend).
    Postgres(Secret),
}

/// The service configuration; read-only after start-up.
#[derive(Debug, Clone)]
pub struct Config {
    /// `GANCHO_DATABASE_URL`: `sqlite://PATH` (default `sqlite://gancho.db`) or `postgres://...`.
    pub database_url: DatabaseUrl,
    /// `GANCHO_DATABASE_POOL_SIZE`: PostgreSQL connections per instance (default 10).
    pub database_pool_size: u32,
    /// `GANCHO_DATABASE_STATEMENT_TIMEOUT`: PostgreSQL `statement_timeout` (default `30s`).
    pub database_statement_timeout: Duration,
    /// `GANCHO_LISTEN`: bind address (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// `GANCHO_PUBLIC_URL`: base of the URLs gancho shows, without a trailing slash.
    pub public_url: String,
    /// `GANCHO_ADMIN_TOKEN`: bootstrap admin token of the default workspace;
    /// when unset, one is generated on first start and printed once.
    pub admin_token: Option<Secret>,
    /// `GANCHO_RETRY_SCHEDULE`: delays before each outbound attempt (default `0s,1m,5m,30m,2h`).
    pub retry_schedule: Vec<Duration>,
    /// `GANCHO_DELIVERY_TIMEOUT`: outbound request timeout (default `10s`).
    pub delivery_timeout: Duration,
    /// `GANCHO_ENDPOINT_MAX_IN_FLIGHT`: deliveries one endpoint may have in
    /// flight at once, across instances, unless it sets its own (default
    /// 16: a quarter of the worker's 64 slots, so a hung endpoint leaves the
    /// rest to the others, and a fast one still gets enough to keep up).
    pub endpoint_max_in_flight: u32,
    /// `GANCHO_BREAKER_COOLDOWN`: how long an endpoint that stopped
    /// answering waits, its deliveries unattempted, before one probe (default `30s`).
    pub breaker_cooldown: Duration,
    /// `GANCHO_RETENTION_DAYS`: logs older than this are purged (default 60).
    pub retention_days: u32,
    /// `GANCHO_ALLOW_PRIVATE_TARGETS`: allow outbound URLs on private addresses (default false).
    pub allow_private_targets: bool,
    /// `GANCHO_MAX_BODY`: largest inbound body in bytes (default `1MiB`).
    pub max_body: usize,
    /// `GANCHO_MAX_INFLIGHT`: inbound calls in flight before `503` with
    /// `Retry-After` (default 512: several group commits' worth, while
    /// latency stays bounded and memory small).
    pub max_inflight: usize,
    /// `GANCHO_MAX_CONNECTIONS`: open client connections; more are closed
    /// as soon as they are accepted (default 4096, well under the usual
    /// descriptor limit once raised; keep it under `ulimit -n`).
    pub max_connections: usize,
    /// `GANCHO_HEADER_TIMEOUT`: a client must send a request's headers
    /// within this, and an idle keep-alive connection is closed after it
    /// (default `10s`).
    pub header_timeout: Duration,
    /// `GANCHO_BODY_TIMEOUT`: reading an inbound body (default `30s`).
    pub body_timeout: Duration,
    /// `GANCHO_REQUEST_TIMEOUT`: bounds every call, from its headers to its
    /// answer (`408` when it runs out; default `60s`).
    pub request_timeout: Duration,
    /// `GANCHO_TIMEZONE`: day boundaries of stats and charts (default `America/Sao_Paulo`).
    pub timezone: chrono_tz::Tz,
    /// `GANCHO_ENCRYPTION_KEY`: encrypts gateway keys and endpoint secrets at
    /// rest; when unset they are stored in clear and start-up warns.
    pub encryption_key: Option<Secret>,
    /// `GANCHO_ASAAS_API_URL`: Asaas's API, where gancho fetches the buyer
    /// of an Asaas payment (`GET {url}/v3/customers/{id}`; default
    /// `https://api.asaas.com`; `https://api-sandbox.asaas.com` for the sandbox).
    pub asaas_api_url: String,
    /// `GANCHO_TRUSTED_PROXIES`: reverse proxies (CIDRs or addresses,
    /// comma-separated) whose `X-Forwarded-For` names the client; empty
    /// (the default): the connection's peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// One bad setting: which variable and why.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: String,
    pub message: String,
}

/// The variables gancho reads, with their defaults.
const VARS: [(&str, &str); 22] = [
    ("GANCHO_DATABASE_URL", "sqlite://gancho.db"),
    ("GANCHO_DATABASE_POOL_SIZE", "10"),
    ("GANCHO_DATABASE_STATEMENT_TIMEOUT", "30s"),
    ("GANCHO_LISTEN", "127.0.0.1:8080"),
    ("GANCHO_PUBLIC_URL", "http://127.0.0.1:8080"),
    ("GANCHO_ADMIN_TOKEN", ""),
    ("GANCHO_RETRY_SCHEDULE", "0s,1m,5m,30m,2h"),
    ("GANCHO_DELIVERY_TIMEOUT", "10s"),
    ("GANCHO_ENDPOINT_MAX_IN_FLIGHT", "16"),
    ("GANCHO_BREAKER_COOLDOWN", "30s"),
    ("GANCHO_RETENTION_DAYS", "60"),
    ("GANCHO_ALLOW_PRIVATE_TARGETS", "false"),
    ("GANCHO_MAX_BODY", "1MiB"),
    ("GANCHO_MAX_INFLIGHT", "512"),
    ("GANCHO_MAX_CONNECTIONS", "4096"),
    ("GANCHO_HEADER_TIMEOUT", "10s"),
    ("GANCHO_BODY_TIMEOUT", "30s"),
    ("GANCHO_REQUEST_TIMEOUT", "60s"),
    ("GANCHO_TIMEZONE", "America/Sao_Paulo"),
    ("GANCHO_ENCRYPTION_KEY", ""),
    ("GANCHO_ASAAS_API_URL", "https://api.asaas.com"),
    ("GANCHO_TRUSTED_PROXIES", ""),
];

/// Variables gancho reads that are not settings (so they are not "unknown").
const OTHER_KNOWN: [&str; 7] = [
    "GANCHO_CONFIG",
    "GANCHO_LOG_FORMAT",
    "GANCHO_NEW_ENCRYPTION_KEY",
    "GANCHO_LOG",
    "GANCHO_TEST_DATABASE_URL",
    "GANCHO_BENCH_EVENTS",
    "GANCHO_BENCH_ROWS",
];

impl Default for Config {
    fn default() -> Self {
        Self::from_lookup(|_| None).expect("the built-in defaults are valid")
    }
}

impl Config {
    /// Reads the process environment and `gancho.toml` (or the file named by
    /// `GANCHO_CONFIG`). Returns the config and warnings to log (unknown variables).
    pub fn from_env() -> Result<(Self, Vec<String>), ConfigError> {
        Self::from_env_except(&[])
    }

    /// [`Self::from_env`], as if the variables in `skip` were not set (and not
    /// in the file): `rotate-encryption-key` reads an old key that today's
    /// rules would refuse on its own.
    pub fn from_env_except(skip: &[&str]) -> Result<(Self, Vec<String>), ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("GANCHO_") && !skip.contains(&k.as_str()))
            .collect();
        let path = env
            .get("GANCHO_CONFIG")
            .cloned()
            .unwrap_or_else(|| "gancho.toml".to_string());
        let file = read_toml(&path, env.contains_key("GANCHO_CONFIG"))?;
        let mut warnings: Vec<String> = env
            .keys()
            .filter(|k| !VARS.iter().any(|(v, _)| v == k) && !OTHER_KNOWN.contains(&k.as_str()))
            .map(|k| format!("unknown variable {k} is ignored"))
            .collect();
        warnings.extend(
            file.keys()
                .filter(|k| !VARS.iter().any(|(v, _)| v == k))
                .map(|k| format!("unknown setting {} in {path} is ignored", k.to_lowercase())),
        );
        let config = Self::from_lookup(|var| {
            if skip.contains(&var) {
                return None;
            }
            env.get(var).or_else(|| file.get(var)).cloned()
        })?;
        Ok((config, warnings))
    }

    /// Builds a config from a lookup of `GANCHO_*` names; absent or empty
    /// values take the defaults.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &str| -> String {
            lookup(var)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .or_else(|| {
                    VARS.iter()
                        .find(|(v, _)| *v == var)
                        .map(|(_, d)| d.to_string())
                })
                .unwrap_or_default()
        };
        let err = |var: &str, message: String| ConfigError {
            var: var.to_string(),
            message,
        };
        let optional_secret = |var: &str| Some(get(var)).filter(|v| !v.is_empty()).map(Secret);
        Ok(Self {
            database_url: parse_database_url(&get("GANCHO_DATABASE_URL"))
                .map_err(|m| err("GANCHO_DATABASE_URL", m))?,
            database_pool_size: get("GANCHO_DATABASE_POOL_SIZE")
                .parse()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| {
                    err(
                        "GANCHO_DATABASE_POOL_SIZE",
                        "expected a number of connections from 1 to 1000".into(),
                    )
                })?,
            database_statement_timeout: parse_duration(&get("GANCHO_DATABASE_STATEMENT_TIMEOUT"))
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    err(
                        "GANCHO_DATABASE_STATEMENT_TIMEOUT",
                        "expected a duration such as 30s".into(),
                    )
                })?,
            listen: get("GANCHO_LISTEN").parse().map_err(|_| {
                err(
                    "GANCHO_LISTEN",
                    "expected an address such as 127.0.0.1:8080".into(),
                )
            })?,
            public_url: parse_public_url(&get("GANCHO_PUBLIC_URL"))
                .map_err(|m| err("GANCHO_PUBLIC_URL", m))?,
            asaas_api_url: parse_public_url(&get("GANCHO_ASAAS_API_URL"))
                .map_err(|m| err("GANCHO_ASAAS_API_URL", m))?,
            trusted_proxies: get("GANCHO_TRUSTED_PROXIES")
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    crate::client_ip::parse_net(p).ok_or_else(|| {
                        err(
                            "GANCHO_TRUSTED_PROXIES",
                            format!("{p:?} is not an address or a CIDR such as 10.0.0.0/8"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            admin_token: optional_secret("GANCHO_ADMIN_TOKEN"),
            retry_schedule: parse_schedule(&get("GANCHO_RETRY_SCHEDULE"))
                .map_err(|m| err("GANCHO_RETRY_SCHEDULE", m))?,
            delivery_timeout: parse_duration(&get("GANCHO_DELIVERY_TIMEOUT"))
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    err(
                        "GANCHO_DELIVERY_TIMEOUT",
                        "expected a duration such as 10s".into(),
                    )
                })?,
            endpoint_max_in_flight: get("GANCHO_ENDPOINT_MAX_IN_FLIGHT")
                .parse()
                .ok()
                .filter(|n| (1..=64).contains(n))
                .ok_or_else(|| {
                    err(
                        "GANCHO_ENDPOINT_MAX_IN_FLIGHT",
                        "expected a number of deliveries from 1 to 64".into(),
                    )
                })?,
            breaker_cooldown: parse_duration(&get("GANCHO_BREAKER_COOLDOWN"))
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    err(
                        "GANCHO_BREAKER_COOLDOWN",
                        "expected a duration such as 30s".into(),
                    )
                })?,
            retention_days: get("GANCHO_RETENTION_DAYS")
                .parse()
                .ok()
                .filter(|d| *d > 0)
                .ok_or_else(|| {
                    err(
                        "GANCHO_RETENTION_DAYS",
                        "expected a whole number of days, 1 or more".into(),
                    )
                })?,
            allow_private_targets: parse_bool(&get("GANCHO_ALLOW_PRIVATE_TARGETS")).ok_or_else(
                || {
                    err(
                        "GANCHO_ALLOW_PRIVATE_TARGETS",
                        "expected true or false".into(),
                    )
                },
            )?,
            max_body: parse_size(&get("GANCHO_MAX_BODY")).ok_or_else(|| {
                err(
                    "GANCHO_MAX_BODY",
                    "expected a size such as 1MiB, 512KiB or 65536".into(),
                )
            })?,
            max_inflight: parse_count(&get("GANCHO_MAX_INFLIGHT")).ok_or_else(|| {
                err(
                    "GANCHO_MAX_INFLIGHT",
                    "expected a number of calls, 1 or more".into(),
                )
            })?,
            max_connections: parse_count(&get("GANCHO_MAX_CONNECTIONS")).ok_or_else(|| {
                err(
                    "GANCHO_MAX_CONNECTIONS",
                    "expected a number of connections, 1 or more".into(),
                )
            })?,
            header_timeout: positive_duration(&get("GANCHO_HEADER_TIMEOUT")).ok_or_else(|| {
                err(
                    "GANCHO_HEADER_TIMEOUT",
                    "expected a duration such as 10s".into(),
                )
            })?,
            body_timeout: positive_duration(&get("GANCHO_BODY_TIMEOUT")).ok_or_else(|| {
                err(
                    "GANCHO_BODY_TIMEOUT",
                    "expected a duration such as 30s".into(),
                )
            })?,
            request_timeout: positive_duration(&get("GANCHO_REQUEST_TIMEOUT")).ok_or_else(
                || {
                    err(
                        "GANCHO_REQUEST_TIMEOUT",
                        "expected a duration such as 60s".into(),
                    )
                },
            )?,
            timezone: get("GANCHO_TIMEZONE").parse().map_err(|_| {
                err(
                    "GANCHO_TIMEZONE",
                    "expected an IANA time zone such as America/Sao_Paulo".into(),
                )
            })?,
            encryption_key: match optional_secret("GANCHO_ENCRYPTION_KEY") {
                Some(key) => {
                    crate::keys::seal::key_material(key.expose())
                        .map_err(|m| err("GANCHO_ENCRYPTION_KEY", m))?;
                    Some(key)
                }
                None => None,
            },
        })
    }
}

/// Reads `gancho.toml` into `GANCHO_*` names. A missing file is fine unless
/// it was named explicitly.
fn read_toml(path: &str, required: bool) -> Result<BTreeMap<String, String>, ConfigError> {
    let err = |message: String| ConfigError {
        var: "GANCHO_CONFIG".into(),
        message,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok(BTreeMap::new())
        }
        Err(e) => return Err(err(format!("cannot read {path}: {e}"))),
    };
    let table: toml::Table = text
        .parse()
        .map_err(|e| err(format!("{path} is not valid TOML: {e}")))?;
    Ok(table
        .into_iter()
        .map(|(k, v)| {
            let value = match v {
                toml::Value::String(s) => s,
                other => other.to_string(),
            };
            (format!("GANCHO_{}", k.to_uppercase()), value)
        })
        .collect())
}

pub fn parse_database_url(value: &str) -> Result<DatabaseUrl, String> {
    if let Some(path) = value.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() {
            return Err("sqlite:// needs a file path, such as sqlite://gancho.db".into());
        }
        return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
    }
    if value.starts_with("postgres://") || value.starts_with("postgresql://") {
        return Ok(DatabaseUrl::Postgres(Secret(value.to_string())));
    }
    Err("expected sqlite://PATH or postgres://...".into())
}

fn parse_public_url(value: &str) -> Result<String, String> {
    let trimmed = value.trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"))
        .ok_or("expected an http:// or https:// URL")?;
    if rest.is_empty() || rest.contains(char::is_whitespace) {
        return Err("expected an http:// or https:// URL with a host".into());
    }
    Ok(trimmed.to_string())
}

/// A whole number, 1 or more.
fn parse_count(value: &str) -> Option<usize> {
    value.parse().ok().filter(|n| *n > 0)
}

/// A duration longer than zero.
fn positive_duration(value: &str) -> Option<Duration> {
    parse_duration(value).filter(|d| !d.is_zero())
}

/// `500ms`, `10s`, `5m`, `2h` (a bare number is seconds).
pub fn parse_duration(value: &str) -> Option<Duration> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let n: u64 = number.parse().ok()?;
    let ms = match unit.trim() {
        "ms" => n,
        "" | "s" => n.checked_mul(1_000)?,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

fn parse_schedule(value: &str) -> Result<Vec<Duration>, String> {
    let delays: Option<Vec<Duration>> = value.split(',').map(parse_duration).collect();
    match delays {
        Some(d) if !d.is_empty() => Ok(d),
        _ => Err("expected comma-separated durations such as 0s,1m,5m,30m,2h".into()),
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// `1MiB`, `512KiB`, `2MB`, `64kb`, `65536`.
fn parse_size(value: &str) -> Option<usize> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let n: usize = number.parse().ok()?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "kb" | "k" => 1_000,
        "mb" | "m" => 1_000_000,
        "gb" | "g" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(factor).filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_design() {
        let c = Config::default();
        assert_eq!(c.database_url, DatabaseUrl::Sqlite("gancho.db".into()));
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert_eq!(
            c.retry_schedule,
            [0, 60, 300, 1800, 7200].map(Duration::from_secs).to_vec()
        );
        assert_eq!(c.delivery_timeout, Duration::from_secs(10));
        assert_eq!(c.retention_days, 60);
        assert!(!c.allow_private_targets);
        assert_eq!(c.max_body, 1 << 20);
        assert_eq!((c.max_inflight, c.max_connections), (512, 4096));
        assert_eq!(c.header_timeout, Duration::from_secs(10));
        assert_eq!(c.body_timeout, Duration::from_secs(30));
        assert_eq!(c.request_timeout, Duration::from_secs(60));
        assert_eq!(c.timezone, chrono_tz::America::Sao_Paulo);
        assert!(c.admin_token.is_none());
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("GANCHO_DATABASE_URL", "mysql://x"),
            ("GANCHO_DATABASE_POOL_SIZE", "0"),
            ("GANCHO_DATABASE_STATEMENT_TIMEOUT", "forever"),
            ("GANCHO_LISTEN", "nowhere"),
            ("GANCHO_PUBLIC_URL", "ftp://x"),
            ("GANCHO_RETRY_SCHEDULE", "1m,soon"),
            ("GANCHO_DELIVERY_TIMEOUT", "0s"),
            ("GANCHO_RETENTION_DAYS", "-1"),
            ("GANCHO_ALLOW_PRIVATE_TARGETS", "maybe"),
            ("GANCHO_MAX_BODY", "huge"),
            ("GANCHO_MAX_INFLIGHT", "0"),
            ("GANCHO_MAX_CONNECTIONS", "many"),
            ("GANCHO_HEADER_TIMEOUT", "0s"),
            ("GANCHO_BODY_TIMEOUT", "slow"),
            ("GANCHO_REQUEST_TIMEOUT", "0ms"),
            ("GANCHO_TIMEZONE", "Mars/Base"),
            ("GANCHO_ENCRYPTION_KEY", "short key"),
            ("GANCHO_TRUSTED_PROXIES", "10.0.0.0/8, proxy.local"),
            ("GANCHO_ASAAS_API_URL", "api.asaas.com"),
        ] {
            let e = with(&[(var, value)]).unwrap_err();
            assert_eq!(e.var, var);
            assert!(e.to_string().starts_with(var));
        }
    }

    #[test]
    fn durations_and_sizes_parse() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_size("512KiB"), Some(512 * 1024));
        assert_eq!(parse_size("2MB"), Some(2_000_000));
        let c = with(&[("GANCHO_PUBLIC_URL", "https://hooks.example.com/")]).unwrap();
        assert_eq!(c.public_url, "https://hooks.example.com");
    }

    #[test]
    fn secrets_do_not_print() {
        let c = with(&[("GANCHO_ADMIN_TOKEN", "s3cr3t-token")]).unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t-token"));
    }
}
