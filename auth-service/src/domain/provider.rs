use serde::{Deserialize, Serialize};

/// The accounts a user connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Microsoft Outlook through Microsoft Graph.
    Outlook,
    /// Zoho CRM.
    Zoho,
}

impl Provider {
    pub const ALL: [Provider; 2] = [Provider::Outlook, Provider::Zoho];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Outlook => "outlook",
            Provider::Zoho => "zoho",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "outlook" => Some(Provider::Outlook),
            "zoho" => Some(Provider::Zoho),
            _ => None,
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Zoho data centre, by the top-level domain of its accounts server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ZohoDataCentre {
    #[default]
    Com,
    Eu,
    In,
    ComAu,
    Jp,
    Ca,
    Sa,
    ComCn,
}

impl ZohoDataCentre {
    pub fn code(self) -> &'static str {
        match self {
            ZohoDataCentre::Com => "com",
            ZohoDataCentre::Eu => "eu",
            ZohoDataCentre::In => "in",
            ZohoDataCentre::ComAu => "com.au",
            ZohoDataCentre::Jp => "jp",
            ZohoDataCentre::Ca => "ca",
            ZohoDataCentre::Sa => "sa",
            ZohoDataCentre::ComCn => "com.cn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "com" => ZohoDataCentre::Com,
            "eu" => ZohoDataCentre::Eu,
            "in" => ZohoDataCentre::In,
            "com.au" => ZohoDataCentre::ComAu,
            "jp" => ZohoDataCentre::Jp,
            "ca" => ZohoDataCentre::Ca,
            "sa" => ZohoDataCentre::Sa,
            "com.cn" => ZohoDataCentre::ComCn,
            _ => return None,
        })
    }

    /// The real accounts server (api-reference 2.1). Canada is the odd one out: its accounts
    /// server lives under zohocloud.ca, not zoho.ca.
    pub fn accounts_server(self) -> String {
        match self {
            ZohoDataCentre::Ca => "https://accounts.zohocloud.ca".to_owned(),
            dc => format!("https://accounts.zoho.{}", dc.code()),
        }
    }
}

/// A Microsoft identity platform tenant: `common`, `organizations`, `consumers`, a tenant id or
/// a verified domain. It becomes a URL path segment, so only URL-safe characters pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MicrosoftTenant(String);

impl MicrosoftTenant {
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= 100
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            && !s.starts_with('.');
        ok.then(|| MicrosoftTenant(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for MicrosoftTenant {
    fn default() -> Self {
        MicrosoftTenant("common".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_centres_round_trip_and_canada_is_special() {
        for code in ["com", "eu", "in", "com.au", "jp", "ca", "sa", "com.cn"] {
            assert_eq!(ZohoDataCentre::parse(code).unwrap().code(), code);
        }
        assert!(ZohoDataCentre::parse("uk").is_none());
        assert_eq!(
            ZohoDataCentre::Ca.accounts_server(),
            "https://accounts.zohocloud.ca"
        );
        assert_eq!(
            ZohoDataCentre::ComAu.accounts_server(),
            "https://accounts.zoho.com.au"
        );
    }

    #[test]
    fn tenants_are_path_safe() {
        assert!(MicrosoftTenant::parse("common").is_some());
        assert!(MicrosoftTenant::parse("contoso.onmicrosoft.com").is_some());
        assert!(MicrosoftTenant::parse("72f988bf-86f1-41af-91ab-2d7cd011db47").is_some());
        for bad in ["", "../x", "a/b", "a?b", ".hidden"] {
            assert!(MicrosoftTenant::parse(bad).is_none(), "{bad}");
        }
    }
}
