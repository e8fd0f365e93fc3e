//! URL normalization: one canonical spelling per article address.
//!
//! Feeds, pages and sinks name the same article by many URLs (tracking
//! parameters, mobile and AMP hosts, fragments); the record id, the feed
//! item key and the dedup index all compare the canonical form.

use ::url::Url;

/// Canonical form of a URL for exact matching, or `None` when `raw` is not an
/// absolute http(s) URL.
///
/// Folds what does not change the page: scheme and host case, default ports,
/// a trailing dot on the host, `www.`/`m.`/`mobile.`/`amp.` host prefixes, an
/// `amp` path segment at either end of the path, the fragment, tracking and
/// AMP query parameters; the remaining query parameters are sorted. Paths keep
/// their case and trailing slash: servers may tell those apart.
pub fn canonicalize(raw: &str) -> Option<String> {
    let mut url = Url::parse(raw.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.set_fragment(None);
    let host = url.host_str()?.trim_end_matches('.').to_string();
    url.set_host(Some(&strip_variant_prefix(&host))).ok()?;
    strip_amp_segment(&mut url);
    strip_tracking_params(&mut url);
    Some(url.into())
}

/// Drops an `amp` segment at either end of the path, unless it is the
/// whole path.
fn strip_amp_segment(url: &mut Url) {
    let segments: Vec<String> = url
        .path_segments()
        .map(|s| s.map(str::to_string).collect())
        .unwrap_or_default();
    let trailing_slash = segments.last().is_some_and(String::is_empty);
    let mut kept: Vec<&str> = segments
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    let mut amp_removed = false;
    if kept.len() > 1 && kept.last().is_some_and(|s| s.eq_ignore_ascii_case("amp")) {
        kept.pop();
        amp_removed = true;
    }
    if kept.len() > 1 && kept.first().is_some_and(|s| s.eq_ignore_ascii_case("amp")) {
        kept.remove(0);
        amp_removed = true;
    }
    if amp_removed {
        let mut path = format!("/{}", kept.join("/"));
        if trailing_slash {
            path.push('/');
        }
        url.set_path(&path);
    }
}

/// Drops tracking and AMP query parameters and sorts the others.
fn strip_tracking_params(url: &mut Url) {
    let mut params: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, v)| !is_tracking_param(k, v))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    params.sort();
    if params.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(params);
    }
}

/// Drops a `www.`, mobile or AMP host prefix, unless that would leave a bare
/// public suffix-like name with a single label.
fn strip_variant_prefix(host: &str) -> String {
    for prefix in ["www.", "m.", "mobile.", "amp."] {
        if let Some(rest) = host.strip_prefix(prefix)
            && rest.contains('.')
        {
            return rest.to_string();
        }
    }
    host.to_string()
}

fn is_tracking_param(key: &str, value: &str) -> bool {
    let key = key.to_ascii_lowercase();
    const EXACT: &[&str] = &[
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "ocid",
        "ncid",
        "cmpid",
        "ref_src",
        "ref_url",
        "twclid",
        "ttclid",
        "li_fat_id",
        "s_cid",
        "at_medium",
        "at_campaign",
        "outputtype",
    ];
    key.starts_with("utm_")
        || EXACT.contains(&key.as_str())
        || (key == "amp" && matches!(value, "" | "1" | "true"))
}
