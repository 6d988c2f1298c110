//! Which account an external identity signs in to: the pure rule.
//!
//! - an identity already linked signs in to its account;
//! - otherwise only a verified e-mail address counts. An account with that address links after
//!   its owner confirms: with the account's password, or, for an account an administrator
//!   created without a password (an invitation), by this first sign-in itself;
//! - no account: a new one only when the address's domain is on the provider's sign-up list.

/// What is known when a provider has signed someone in.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The account this identity is linked to, if any.
    pub linked: Option<Account>,
    /// The provider vouches for this address (`None`: no address or not verified).
    pub verified_email: Option<&'a str>,
    /// The account with that address, if any.
    pub account_with_email: Option<Account>,
    pub sign_up_domains: &'a [String],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub has_password: bool,
    pub disabled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Sign in to the linked account.
    SignIn,
    /// Link to the account with the address, then sign in (an invitation).
    LinkInvited,
    /// The account's owner must confirm with its password.
    ConfirmWithPassword,
    /// Create an account with the address, link, sign in.
    SignUp,
    Refuse(Refusal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    AccountDisabled,
    EmailNotVerified,
    SignUpNotAllowed,
}

pub fn decide(facts: Facts<'_>) -> Decision {
    if let Some(account) = facts.linked {
        return if account.disabled {
            Decision::Refuse(Refusal::AccountDisabled)
        } else {
            Decision::SignIn
        };
    }
    let Some(email) = facts.verified_email else {
        return Decision::Refuse(Refusal::EmailNotVerified);
    };
    match facts.account_with_email {
        Some(account) if account.disabled => Decision::Refuse(Refusal::AccountDisabled),
        Some(account) if account.has_password => Decision::ConfirmWithPassword,
        Some(_) => Decision::LinkInvited,
        None if domain_allowed(email, facts.sign_up_domains) => Decision::SignUp,
        None => Decision::Refuse(Refusal::SignUpNotAllowed),
    }
}

fn domain_allowed(email: &str, domains: &[String]) -> bool {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let domain = domain.to_ascii_lowercase();
    domains.contains(&domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WITH_PASSWORD: Account = Account {
        has_password: true,
        disabled: false,
    };
    const INVITED: Account = Account {
        has_password: false,
        disabled: false,
    };
    const DISABLED: Account = Account {
        has_password: true,
        disabled: true,
    };

    fn facts<'a>(
        linked: Option<Account>,
        email: Option<&'a str>,
        existing: Option<Account>,
        domains: &'a [String],
    ) -> Facts<'a> {
        Facts {
            linked,
            verified_email: email,
            account_with_email: existing,
            sign_up_domains: domains,
        }
    }

    #[test]
    fn a_linked_identity_signs_in_unless_the_account_is_disabled() {
        assert_eq!(
            decide(facts(Some(WITH_PASSWORD), None, None, &[])),
            Decision::SignIn
        );
        assert_eq!(
            decide(facts(Some(DISABLED), None, None, &[])),
            Decision::Refuse(Refusal::AccountDisabled)
        );
    }

    #[test]
    fn an_existing_account_links_only_with_confirmation() {
        let domains = vec!["example.com".to_owned()];
        assert_eq!(
            decide(facts(
                None,
                Some("a@example.com"),
                Some(WITH_PASSWORD),
                &domains
            )),
            Decision::ConfirmWithPassword
        );
        assert_eq!(
            decide(facts(None, Some("a@example.com"), Some(INVITED), &[])),
            Decision::LinkInvited
        );
    }

    #[test]
    fn an_unverified_address_never_links_or_creates() {
        let domains = vec!["example.com".to_owned()];
        assert_eq!(
            decide(facts(None, None, Some(WITH_PASSWORD), &domains)),
            Decision::Refuse(Refusal::EmailNotVerified)
        );
    }

    #[test]
    fn new_accounts_only_for_listed_domains() {
        let domains = vec!["example.com".to_owned()];
        assert_eq!(
            decide(facts(None, Some("a@Example.COM"), None, &domains)),
            Decision::SignUp
        );
        assert_eq!(
            decide(facts(None, Some("a@example.com.evil"), None, &domains)),
            Decision::Refuse(Refusal::SignUpNotAllowed)
        );
        assert_eq!(
            decide(facts(None, Some("a@example.com"), None, &[])),
            Decision::Refuse(Refusal::SignUpNotAllowed)
        );
    }
}
