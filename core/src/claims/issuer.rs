//! Issuer templates, for multi-tenant IdPs whose issuer embeds the tenant (Entra ID's
//! `https://login.microsoftonline.com/{tid}/v2.0`).

use crate::error::{Error, ErrorKind};

/// An issuer with one `{placeholder}` that matches a tenant identifier: letters, digits, `-`,
/// `_` and `.`, at most 64 characters. Optionally limited to a list of tenants.
///
/// ```
/// use jwtguard_core::IssuerTemplate;
///
/// let entra = IssuerTemplate::new("https://login.microsoftonline.com/{tid}/v2.0").unwrap();
/// assert_eq!(
///     entra.tenant_of("https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"),
///     Some("9188040d-6c67-4c5b-b112-36a304b66dad")
/// );
/// assert_eq!(entra.tenant_of("https://login.microsoftonline.com/a/b/v2.0"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerTemplate {
    template: String,
    prefix: String,
    suffix: String,
    tenants: Option<Vec<String>>,
}

impl IssuerTemplate {
    /// Parses a template with exactly one `{name}` placeholder.
    pub fn new(template: &str) -> Result<Self, Error> {
        let bad = || {
            Error::new(
                ErrorKind::Config,
                "an issuer template needs exactly one {placeholder}",
            )
        };
        let (prefix, rest) = template.split_once('{').ok_or_else(bad)?;
        let (name, suffix) = rest.split_once('}').ok_or_else(bad)?;
        if name.is_empty() || suffix.contains(['{', '}']) || prefix.contains('}') {
            return Err(bad());
        }
        Ok(Self {
            template: template.to_owned(),
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
            tenants: None,
        })
    }

    /// Accepts only these tenants.
    pub fn allow_tenants<I: IntoIterator<Item: Into<String>>>(mut self, tenants: I) -> Self {
        self.tenants = Some(tenants.into_iter().map(Into::into).collect());
        self
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.template
    }

    /// The tenant of `issuer`, if it matches.
    pub fn tenant_of<'a>(&self, issuer: &'a str) -> Option<&'a str> {
        let tenant = issuer
            .strip_prefix(self.prefix.as_str())?
            .strip_suffix(self.suffix.as_str())?;
        let well_formed = !tenant.is_empty()
            && tenant.len() <= 64
            && tenant
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        let allowed = self
            .tenants
            .as_ref()
            .is_none_or(|list| list.iter().any(|t| t == tenant));
        (well_formed && allowed).then_some(tenant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert!(IssuerTemplate::new("https://x/{tid}/v2.0").is_ok());
        for bad in [
            "https://x/",
            "https://x/{}/",
            "https://x/{a}/{b}",
            "https://x/{a",
        ] {
            assert!(IssuerTemplate::new(bad).is_err(), "{bad}");
        }
        let t = IssuerTemplate::new("https://x/{tid}/v2.0")
            .unwrap()
            .allow_tenants(["acme"]);
        assert_eq!(t.tenant_of("https://x/acme/v2.0"), Some("acme"));
        assert_eq!(t.tenant_of("https://x/other/v2.0"), None);
        let open = IssuerTemplate::new("https://x/{tid}/v2.0").unwrap();
        assert_eq!(open.tenant_of("https://x/a%2Fb/v2.0"), None);
        assert_eq!(open.tenant_of("https://x//v2.0"), None);
        assert_eq!(open.tenant_of("https://y/acme/v2.0"), None);
    }
}
