//! Configuration: command-line flags, then `LINLI_*` environment variables, then an
//! optional TOML file (`--config` / `LINLI_CONFIG`), then built-in defaults. The first
//! source that sets a value wins.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

pub const DEFAULT_DATABASE: &str = "sqlite://linli.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The settings a TOML file may hold (every key optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub database: Option<String>,
    pub listen: Option<String>,
    pub data_key_file: Option<PathBuf>,
    pub public_url: Option<String>,
    pub trust_proxy: Option<bool>,
    pub log_format: Option<String>,
    pub session_cache_ms: Option<u64>,
    pub object_dir: Option<PathBuf>,
}

impl FileConfig {
    pub fn load(path: Option<&Path>) -> anyhow::Result<FileConfig> {
        let Some(path) = path else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("config file {} is not valid", path.display()))
    }
}

/// The database URL in force.
pub fn database_url(flag_or_env: Option<String>, file: &FileConfig) -> String {
    flag_or_env
        .or_else(|| file.database.clone())
        .unwrap_or_else(|| DEFAULT_DATABASE.to_owned())
}

pub fn listen_addr(flag_or_env: Option<String>, file: &FileConfig) -> anyhow::Result<SocketAddr> {
    let raw = flag_or_env
        .or_else(|| file.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    raw.parse().with_context(|| {
        format!("listen address {raw:?} is not an address:port such as 127.0.0.1:8080")
    })
}

/// Where the data key lives: as configured, else in the user's data directory (never
/// beside the database, so a copied database file does not carry its key).
pub fn data_key_path(flag_or_env: Option<PathBuf>, file: &FileConfig) -> anyhow::Result<PathBuf> {
    if let Some(path) = flag_or_env.or_else(|| file.data_key_file.clone()) {
        return Ok(path);
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    match base {
        Some(base) => Ok(base.join("linli").join("data.key")),
        None => bail!("no data key file configured and no home directory: pass --data-key-file"),
    }
}

/// The folder a SQLite database file sits in (where `demo-logins.txt` goes), or the
/// working directory for PostgreSQL.
pub fn database_dir(url: &str) -> PathBuf {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or(rest));
    match path {
        Some(p) if !p.is_empty() && p != ":memory:" => Path::new(p)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
        _ => PathBuf::from("."),
    }
}

/// The database URL with any password hidden, for printing.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_beats_default() {
        let file = FileConfig {
            database: Some("sqlite://from-file.db".into()),
            ..FileConfig::default()
        };
        assert_eq!(
            database_url(Some("postgres://x".into()), &file),
            "postgres://x"
        );
        assert_eq!(database_url(None, &file), "sqlite://from-file.db");
        assert_eq!(database_url(None, &FileConfig::default()), DEFAULT_DATABASE);
        assert_eq!(
            listen_addr(None, &FileConfig::default())
                .unwrap()
                .to_string(),
            DEFAULT_LISTEN
        );
        assert!(listen_addr(Some("nonsense".into()), &file).is_err());
    }

    #[test]
    fn database_dir_and_redaction() {
        assert_eq!(database_dir("sqlite://linli.db"), PathBuf::from("."));
        assert_eq!(
            database_dir("sqlite:///var/lib/linli/linli.db?mode=rwc"),
            PathBuf::from("/var/lib/linli")
        );
        assert_eq!(database_dir("postgres://h/db"), PathBuf::from("."));
        assert_eq!(
            redacted("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redacted("sqlite://linli.db"), "sqlite://linli.db");
    }

    #[test]
    fn unknown_file_keys_are_rejected() {
        assert!(toml::from_str::<FileConfig>("databse = 'x'").is_err());
    }
}
