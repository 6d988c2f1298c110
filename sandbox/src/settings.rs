//! Settings from `SANDBOX_*` environment variables. The sandbox reads only its own prefix (not the
//! shared `SYNC_*` fallback of the services), so a deployment-wide `SYNC_PORT` can never make it
//! collide with a real service.

use anyhow::Context;

/// How the sandbox listens and which OAuth clients it accepts.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Interface to bind; `127.0.0.1` by default, `0.0.0.0` in a container.
    pub host: String,
    /// 0 picks a free port (tests).
    pub port: u16,
    /// The base put into absolute links (`@odata.nextLink`, `api_domain`, ...). When unset, the
    /// request's `Host` header decides, which is right for tests and a laptop.
    pub public_base_url: Option<String>,
    pub graph_client_id: String,
    pub graph_client_secret: String,
    pub zoho_client_id: String,
    pub zoho_client_secret: String,
    /// The one client of the OpenID Connect provider (`SANDBOX_OIDC_CLIENT_ID`, `_SECRET`).
    pub oidc_client_id: String,
    pub oidc_client_secret: String,
    /// API credits per 24 hours of every new Zoho org (`SANDBOX_ZOHO_CREDIT_BUDGET`); unset is
    /// unlimited (credits are still counted). The control API sets it per org.
    pub zoho_credit_budget: Option<u64>,
    /// `SANDBOX_SNAPSHOT_FILE`: the world is loaded from it at start (when it exists) and written
    /// to it on shutdown and on `POST /_sandbox/snapshot`.
    pub snapshot_file: Option<std::path::PathBuf>,
}

const DEFAULT_PORT: u16 = 7070;

fn var(name: &str) -> Option<String> {
    std::env::var(format!("SANDBOX_{name}"))
        .ok()
        .filter(|v| !v.is_empty())
}

fn string_or(name: &str, default: &str) -> String {
    var(name).unwrap_or_else(|| default.to_owned())
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let port = match var("PORT") {
            Some(raw) => raw.parse().context("SANDBOX_PORT is not a port number")?,
            None => DEFAULT_PORT,
        };
        Ok(Settings {
            host: string_or("HOST", "127.0.0.1"),
            port,
            public_base_url: var("PUBLIC_BASE_URL").map(|u| u.trim_end_matches('/').to_owned()),
            graph_client_id: string_or("GRAPH_CLIENT_ID", "sandbox-graph-client"),
            graph_client_secret: string_or("GRAPH_CLIENT_SECRET", "sandbox-graph-secret"),
            zoho_client_id: string_or("ZOHO_CLIENT_ID", "sandbox-zoho-client"),
            zoho_client_secret: string_or("ZOHO_CLIENT_SECRET", "sandbox-zoho-secret"),
            oidc_client_id: string_or("OIDC_CLIENT_ID", "sandbox-oidc-client"),
            oidc_client_secret: string_or("OIDC_CLIENT_SECRET", "sandbox-oidc-secret"),
            zoho_credit_budget: match var("ZOHO_CREDIT_BUDGET") {
                Some(raw) => Some(
                    raw.parse()
                        .context("SANDBOX_ZOHO_CREDIT_BUDGET is not a whole number")?,
                ),
                None => None,
            },
            snapshot_file: var("SNAPSHOT_FILE").map(std::path::PathBuf::from),
        })
    }

    /// Defaults on a random local port.
    pub fn for_tests() -> Self {
        Settings {
            host: "127.0.0.1".to_owned(),
            port: 0,
            public_base_url: None,
            graph_client_id: "sandbox-graph-client".to_owned(),
            graph_client_secret: "sandbox-graph-secret".to_owned(),
            zoho_client_id: "sandbox-zoho-client".to_owned(),
            zoho_client_secret: "sandbox-zoho-secret".to_owned(),
            oidc_client_id: "sandbox-oidc-client".to_owned(),
            oidc_client_secret: "sandbox-oidc-secret".to_owned(),
            zoho_credit_budget: None,
            snapshot_file: None,
        }
    }
}
