//! Namespaces, version 1 (`NamespaceUtil`): a resource `R` of namespace `N` is `N%R` on the
//! wire; retry and DLQ prefixes stay in front; system topics are never wrapped.

use crate::error::{Error, Result};
use crate::protocol::validate::NOT_ALLOWED_SEND_TOPICS;

const SEPARATOR: char = '%';
const RETRY_PREFIX: &str = "%RETRY%";
const DLQ_PREFIX: &str = "%DLQ%";

/// Topics of the system that keep their name in every namespace.
const SYSTEM_TOPICS: &[&str] = &["TBW102", "BenchmarkTest", "RMQ_SYS_TRACE_TOPIC"];

/// A namespace: non-blank, only `[a-zA-Z0-9_-]` (a '%' or '|' would make wrapped names ambiguous).
pub fn validate(namespace: &str) -> Result<()> {
    if namespace.trim().is_empty() {
        return Err(Error::invalid_argument("namespace is blank"));
    }
    if let Some(c) = namespace
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    {
        return Err(Error::invalid_argument(format!(
            "namespace {namespace:?} contains illegal character {c:?}; allowed are [a-zA-Z0-9_-]"
        )));
    }
    Ok(())
}

fn is_system(resource: &str) -> bool {
    SYSTEM_TOPICS.contains(&resource)
        || NOT_ALLOWED_SEND_TOPICS.contains(&resource)
        || resource.starts_with("rmq_sys_")
}

/// Splits a retry or DLQ prefix off `resource`.
fn split_prefix(resource: &str) -> (&str, &str) {
    for prefix in [RETRY_PREFIX, DLQ_PREFIX] {
        if let Some(rest) = resource.strip_prefix(prefix) {
            return (prefix, rest);
        }
    }
    ("", resource)
}

/// `resource` as the broker knows it in `namespace`.
pub fn wrap(namespace: Option<&str>, resource: &str) -> String {
    let Some(namespace) = namespace.filter(|ns| !ns.is_empty()) else {
        return resource.to_string();
    };
    let (prefix, name) = split_prefix(resource);
    if is_system(name) || name.starts_with(&format!("{namespace}{SEPARATOR}")) {
        return resource.to_string();
    }
    format!("{prefix}{namespace}{SEPARATOR}{name}")
}

/// `resource` as the user knows it: the namespace taken off again.
pub fn unwrap(namespace: Option<&str>, resource: &str) -> String {
    let Some(namespace) = namespace.filter(|ns| !ns.is_empty()) else {
        return resource.to_string();
    };
    let (prefix, name) = split_prefix(resource);
    match name.strip_prefix(&format!("{namespace}{SEPARATOR}")) {
        Some(bare) => format!("{prefix}{bare}"),
        None => resource.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_and_unwrap_as_java() {
        let ns = Some("ns1");
        assert_eq!(wrap(ns, "Orders"), "ns1%Orders");
        assert_eq!(wrap(ns, "ns1%Orders"), "ns1%Orders");
        assert_eq!(wrap(ns, "%RETRY%G"), "%RETRY%ns1%G");
        assert_eq!(wrap(ns, "%DLQ%G"), "%DLQ%ns1%G");
        assert_eq!(wrap(ns, "TBW102"), "TBW102");
        assert_eq!(wrap(ns, "rmq_sys_x"), "rmq_sys_x");
        assert_eq!(wrap(None, "Orders"), "Orders");
        assert_eq!(unwrap(ns, "ns1%Orders"), "Orders");
        assert_eq!(unwrap(ns, "%RETRY%ns1%G"), "%RETRY%G");
        assert_eq!(unwrap(ns, "other%Orders"), "other%Orders");
        assert_eq!(unwrap(None, "ns1%Orders"), "ns1%Orders");
    }

    #[test]
    fn namespace_validation() {
        validate("prod-1_a").unwrap();
        for bad in ["", " ", "a%b", "a|b", "a b", "ü"] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
    }
}
