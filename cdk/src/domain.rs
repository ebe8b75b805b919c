//! DNS names of the stack's own (`[domain]`): the rules AWS sets for them, the names of
//! the records and the certificate made from them, and how a hosted zone not named by
//! id is written until `plan`/`up` looks it up. Pure functions: nothing here calls AWS.
//!
//! ```
//! use slipway_cdk::domain;
//! assert_eq!(domain::record_name("vote", "example.com"), "vote.example.com");
//! assert_eq!(domain::record_name("@", "example.com"), "example.com");
//! assert!(domain::host_pattern_matches("result.*", "result.example.com"));
//! assert_eq!(domain::zone_lookup_name(&domain::zone_lookup("example.com")), Some("example.com"));
//! ```

/// The subdomain that means the domain itself (the zone apex, or `[domain] name`).
pub const APEX: &str = "@";

/// Prefix of a spec's `zone` while the hosted zone is known only by the domain it must
/// hold (`lookup:example.com`); `plan` and `up` replace it by the zone's id.
pub const ZONE_LOOKUP_PREFIX: &str = "lookup:";

/// The `zone` of a spec whose hosted zone `plan`/`up` find for `domain`.
pub fn zone_lookup(domain: &str) -> String {
    format!("{ZONE_LOOKUP_PREFIX}{domain}")
}

/// The domain whose hosted zone `zone` still has to be looked up, if it is a lookup.
pub fn zone_lookup_name(zone: &str) -> Option<&str> {
    zone.strip_prefix(ZONE_LOOKUP_PREFIX)
}

/// The names a lookup for `domain` tries, in order: the domain, then each parent that
/// still has two labels (`a.b.example.com` → `a.b.example.com`, `b.example.com`,
/// `example.com`); a zone for a top-level domain is never ours to write in.
///
/// ```
/// assert_eq!(
///     slipway_cdk::domain::zone_candidates("dev.example.com"),
///     vec!["dev.example.com", "example.com"]
/// );
/// ```
pub fn zone_candidates(domain: &str) -> Vec<&str> {
    let mut candidates = vec![domain];
    let mut rest = domain;
    while let Some((_, parent)) = rest.split_once('.') {
        if !parent.contains('.') {
            break;
        }
        candidates.push(parent);
        rest = parent;
    }
    candidates
}

/// The DNS name a public service is published at: `<subdomain>.<domain>`, or the domain
/// itself for [`APEX`].
pub fn record_name(subdomain: &str, domain: &str) -> String {
    if subdomain == APEX {
        domain.to_owned()
    } else {
        format!("{subdomain}.{domain}")
    }
}

/// Logical id of the alias record for `name` (`dns-vote.example.com`): records cannot be
/// tagged, so `observe` recovers the id from the record's name.
pub fn record_id(name: &str) -> String {
    format!("dns-{name}")
}

/// Logical id of the certificate for `domain` (`certificate-example.com`). The domain is
/// part of it so a new domain gets a new certificate next to the old one: the HTTPS
/// listeners move to it before the old one, which ACM refuses to delete while a listener
/// uses it, is deleted.
pub fn certificate_id(domain: &str) -> String {
    format!("certificate-{domain}")
}

/// The names the certificate for `domain` covers besides the domain itself: every
/// `<subdomain>.<domain>` at once (`*.<domain>`), so adding a service never needs a new
/// certificate.
pub fn alternative_names(domain: &str) -> Vec<String> {
    vec![format!("*.{domain}")]
}

/// Why `name` is not a domain `[domain] name` can be, if it is not. The rules: RFC 1035
/// labels (1-63 letters, digits or hyphens, not starting or ending with a hyphen),
/// lowercase (ALB host conditions and Route 53 compare case-insensitively, the
/// certificate would not), at least two labels, and at most 64 characters: "The first
/// domain name you enter cannot exceed 64 octets, including periods" (ACM User Guide,
/// "Requesting a public certificate"; the certificate's common name), within Route 53's
/// 255-octet names.
///
/// ```
/// use slipway_cdk::domain::domain_name_problem;
/// assert_eq!(domain_name_problem("example.com"), None);
/// assert!(domain_name_problem("Example.com").is_some());
/// assert!(domain_name_problem("com").is_some());
/// assert!(domain_name_problem(&format!("{}.com", "a".repeat(61))).is_some());
/// ```
pub fn domain_name_problem(name: &str) -> Option<String> {
    if name.len() > 64 {
        return Some(format!(
            "is {} characters; ACM takes at most 64 for a certificate's first name (use a shorter domain, e.g. a parent)",
            name.len()
        ));
    }
    if name.ends_with('.') {
        return Some("must not end with `.`".into());
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Some("needs at least two labels, e.g. example.com".into());
    }
    labels.iter().find_map(|label| label_problem(label))
}

/// Why `subdomain` (`public.subdomain`) is not one DNS label or [`APEX`], if it is not.
/// One label because the certificate covers `*.<domain>`, and a wildcard matches one
/// label only (ACM User Guide, "Wildcard names").
///
/// ```
/// use slipway_cdk::domain::subdomain_problem;
/// assert_eq!(subdomain_problem("vote"), None);
/// assert_eq!(subdomain_problem("@"), None);
/// assert!(subdomain_problem("a.b").is_some());
/// ```
pub fn subdomain_problem(subdomain: &str) -> Option<String> {
    if subdomain == APEX {
        return None;
    }
    if subdomain.contains('.') {
        return Some(
            "must be one DNS label (the certificate covers `*.<domain>`, one level deep) or `@` for the domain itself"
                .into(),
        );
    }
    label_problem(subdomain)
}

fn label_problem(label: &str) -> Option<String> {
    if label.is_empty() || label.len() > 63 {
        return Some(format!(
            "label `{label}` must be 1-63 characters (RFC 1035)"
        ));
    }
    if !label
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Some(format!(
            "label `{label}` may hold only lowercase letters, digits and `-`"
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Some(format!("label `{label}` must not start or end with `-`"));
    }
    None
}

/// Why `zone_id` is not a Route 53 hosted zone id (`Z…`, up to 32 letters and digits;
/// Route 53 API reference, `HostedZone.Id`), if it is not. `/hostedzone/Z…`, as some
/// tools print it, is accepted too (see [`bare_zone_id`]).
pub fn zone_id_problem(zone_id: &str) -> Option<String> {
    let id = bare_zone_id(zone_id);
    let ok = id.starts_with('Z')
        && id.len() <= 32
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    (!ok).then(|| {
        format!("`{zone_id}` is not a Route 53 hosted zone id (`Z` and up to 31 capital letters or digits, as `aws route53 list-hosted-zones` prints after /hostedzone/)")
    })
}

/// A hosted zone id without the `/hostedzone/` prefix Route 53 answers some calls with.
pub fn bare_zone_id(zone_id: &str) -> &str {
    zone_id.strip_prefix("/hostedzone/").unwrap_or(zone_id)
}

/// Whether an ALB host-header pattern matches `host`: case-insensitive, `*` any run of
/// characters, `?` one character (ELB User Guide, "Host conditions").
pub fn host_pattern_matches(pattern: &str, host: &str) -> bool {
    fn matches(pattern: &[u8], host: &[u8]) -> bool {
        match (pattern.first(), host.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                matches(&pattern[1..], host) || (!host.is_empty() && matches(pattern, &host[1..]))
            }
            (Some(b'?'), Some(_)) => matches(&pattern[1..], &host[1..]),
            (Some(p), Some(h)) if p.eq_ignore_ascii_case(h) => matches(&pattern[1..], &host[1..]),
            _ => false,
        }
    }
    matches(pattern.as_bytes(), host.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_follow_acm_and_dns_rules() {
        assert_eq!(domain_name_problem("dev.example.com"), None);
        assert_eq!(domain_name_problem("a-1.example.co.uk"), None);
        for bad in [
            "example",
            "example.com.",
            "-a.example.com",
            "a-.example.com",
            "a..example.com",
            "a_b.example.com",
            "*.example.com",
            "ÿ.example.com",
        ] {
            assert!(domain_name_problem(bad).is_some(), "{bad} accepted");
        }
        assert_eq!(subdomain_problem(&"a".repeat(63)), None);
        assert!(subdomain_problem(&"a".repeat(64)).is_some());
        assert!(domain_name_problem(&format!("{}.io", "a".repeat(60))).is_none());
        // 64 characters in all is the most ACM takes for the first name.
        let long = format!("{}.{}.com", "a".repeat(30), "b".repeat(29));
        assert_eq!(long.len(), 64);
        assert!(domain_name_problem(&long).is_none());
        assert!(domain_name_problem(&format!("x{long}")).is_some());
    }

    #[test]
    fn zone_ids_and_candidates() {
        assert_eq!(zone_id_problem("Z0123456789ABCDEFGHIJ"), None);
        assert_eq!(zone_id_problem("/hostedzone/Z123"), None);
        assert!(zone_id_problem("z123").is_some());
        assert!(zone_id_problem(&format!("Z{}", "1".repeat(32))).is_some());
        assert_eq!(zone_candidates("example.com"), vec!["example.com"]);
        assert_eq!(
            zone_candidates("a.b.example.com"),
            vec!["a.b.example.com", "b.example.com", "example.com"]
        );
    }

    #[test]
    fn host_patterns_match_like_the_alb() {
        assert!(host_pattern_matches("result.*", "result.example.com"));
        assert!(host_pattern_matches("*.example.com", "vote.example.com"));
        assert!(host_pattern_matches(
            "RESULT.example.com",
            "result.example.com"
        ));
        assert!(host_pattern_matches("v?te.*", "vote.example.com"));
        assert!(!host_pattern_matches("result.*", "vote.example.com"));
        assert!(!host_pattern_matches(
            "result.example.com",
            "result.example.org"
        ));
    }
}
