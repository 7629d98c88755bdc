//! Guessing is throttled: wrong passwords per account and per client
//! address, wrong enrolment codes per address.
//!
//! Each limit is a [`Window`]: failures counted per key in fixed windows
//! of time, refused once a key has used its allowance, with the seconds
//! until its window ends (the `Retry-After`). An attempt is counted before
//! it is checked (so attempts in flight at once cannot pass the limit
//! together) and given back when it succeeds: only failures count, so an
//! honest user who types the password right is never slowed by their own
//! sign-ins; a right password for an account under attack is refused like
//! a wrong one until the window ends (the attacker would otherwise learn
//! which guess was right from the answer).
//!
//! The account limit comes first and is low; the address limits are high,
//! since many phones share one carrier address (carrier-grade NAT). A
//! client's address is the socket's peer, or, when that peer is one of
//! [`crate::config::Config::trusted_proxies`], the last address the proxies
//! added to `X-Forwarded-For` or `Forwarded`: a header from anyone else is
//! ignored, since a client writes what it likes there. The same proxies
//! say whether the client's request came over HTTPS ([`OverHttps`]), which
//! decides whether cookies are `Secure`.
//!
//! Time comes in as an argument (`now`, Unix seconds, from the server's
//! [`crate::clock::Clock`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::State;

/// Most keys a window remembers; past this, windows that ended are
/// forgotten first, and if every key is still live the new key is refused
/// (a flood of distinct keys cannot grow the server's memory).
const MAX_KEYS: usize = 100_000;

/// A keyed fixed window: at most `limit` failures per key per `window_secs`.
#[derive(Debug)]
pub struct Window<K> {
    limit: u32,
    window_secs: i64,
    keys: Mutex<HashMap<K, Count>>,
}

#[derive(Debug, Clone, Copy)]
struct Count {
    started: i64,
    failures: u32,
}

/// A refusal: the key used its allowance; try again after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// Seconds until the key's window ends.
    pub retry_after_secs: i64,
}

impl<K: Eq + Hash + Clone> Window<K> {
    /// At most `limit` failures per key in each `window_secs`.
    pub fn new(limit: u32, window_secs: i64) -> Window<K> {
        Window { limit: limit.max(1), window_secs: window_secs.max(1), keys: Mutex::default() }
    }

    /// Counts an attempt of `key` at `now`, before its outcome is known,
    /// and returns how many its window holds with it; refused without
    /// counting once the window holds `limit`. Counting before the check
    /// keeps attempts in flight at once from passing the limit together; an
    /// attempt that succeeds is given back with [`Window::forgive`].
    pub fn take(&self, key: &K, now: i64) -> Result<u32, Throttled> {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if keys.len() >= MAX_KEYS && !keys.contains_key(key) {
            keys.retain(|_, count| self.live(count, now));
            if keys.len() >= MAX_KEYS {
                return Err(Throttled { retry_after_secs: self.window_secs });
            }
        }
        let count = keys.entry(key.clone()).or_insert(Count { started: now, failures: 0 });
        if !self.live(count, now) {
            *count = Count { started: now, failures: 0 };
        }
        if count.failures >= self.limit {
            return Err(Throttled { retry_after_secs: (count.started + self.window_secs - now).max(1) });
        }
        count.failures += 1;
        Ok(count.failures)
    }

    /// Gives back an attempt of `key` that succeeded.
    pub fn forgive(&self, key: &K) {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = keys.get_mut(key) {
            count.failures = count.failures.saturating_sub(1);
        }
    }

    fn live(&self, count: &Count, now: i64) -> bool {
        now < count.started + self.window_secs
    }
}

/// The server's throttles, built from the configuration.
#[derive(Debug)]
pub struct Throttles {
    /// Wrong passwords per back-office user name.
    pub passwords_per_account: Window<String>,
    /// Wrong passwords per client address.
    pub passwords_per_address: Window<IpAddr>,
    /// Wrong enrolment codes per client address.
    pub codes_per_address: Window<IpAddr>,
    /// Requests to the merchant's verification page per client address,
    /// each counted, found or not ([`crate::verify`]).
    pub verifications_per_address: Window<IpAddr>,
    /// Unreadable visits pushed per device, counted (never refused) so
    /// that their audit rows are few however many are sent.
    pub unreadable_per_device: Window<String>,
    /// Pushes refused per device for a change under another's actor: only
    /// counted, never refused, so that a few of them a minute are audited
    /// ([`crate::actors::audit_refusal`]).
    pub foreign_actor_refusals: Window<String>,
}

impl Throttles {
    /// The limits of `config`.
    pub fn new(config: &crate::config::Config) -> Throttles {
        Throttles {
            passwords_per_account: Window::new(
                config.password_failures_per_account,
                config.password_window_secs,
            ),
            passwords_per_address: Window::new(
                config.password_failures_per_address,
                config.password_window_secs,
            ),
            codes_per_address: Window::new(config.code_failures_per_address, 60),
            verifications_per_address: Window::new(config.verifications_per_address, 60),
            unreadable_per_device: Window::new(u32::MAX, 60),
            foreign_actor_refusals: Window::new(u32::MAX, 60),
        }
    }
}

/// Whether a refusal's number `n` in its window (a refused enrolment's in
/// its address's, an unreadable push's in its device's) gets an audit row:
/// the first three, then at each power of ten (the row carries the count),
/// so refusals write a handful of rows per key and minute however many
/// there are.
pub fn audits_refusal(n: u32) -> bool {
    n <= 3 || (n >= 10 && n.checked_ilog10().is_some_and(|e| 10u32.pow(e) == n))
}

/// The address a request comes from (see the module's comment on proxies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl ClientAddress {
    /// The client's address from the socket's `peer` and the headers,
    /// trusting forwarding headers only from `trusted` proxies.
    pub fn of(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> ClientAddress {
        let unspecified = IpAddr::from([0, 0, 0, 0]);
        let Some(peer) = peer else { return ClientAddress(unspecified) };
        if !trusted.contains(&peer) {
            return ClientAddress(peer);
        }
        // Each proxy appends the address it received from: walking back from
        // the end, the first address that is not a trusted proxy is the client.
        let forwarded = forwarded_for(headers);
        let client = forwarded.iter().rev().find(|address| !trusted.contains(address));
        ClientAddress(client.or(forwarded.first()).copied().unwrap_or(peer))
    }
}

/// Whether the client's request reached the server over HTTPS: always when
/// the server serves TLS itself; otherwise only when the socket's peer is
/// one of the trusted proxies and it says so (`Forwarded: proto=https`,
/// else `X-Forwarded-Proto: https`). A stranger's claim is ignored, as its
/// `X-Forwarded-For` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverHttps(pub bool);

impl OverHttps {
    /// Whether a request came over HTTPS, from whether the server
    /// `serves_tls`, the socket's `peer` and the headers, trusting the
    /// forwarding headers only from `trusted` proxies.
    pub fn of(serves_tls: bool, peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> OverHttps {
        if serves_tls {
            return OverHttps(true);
        }
        let trusted_peer = peer.is_some_and(|peer| trusted.contains(&peer));
        OverHttps(
            trusted_peer && forwarded_proto(headers).is_some_and(|proto| proto.eq_ignore_ascii_case("https")),
        )
    }

    /// The attributes a `Set-Cookie` adds for this transport: `; Secure`
    /// over HTTPS, nothing over plain HTTP (where a browser would refuse a
    /// `Secure` cookie, so local use without TLS keeps working).
    pub fn cookie_attributes(self) -> &'static str {
        if self.0 { "; Secure" } else { "" }
    }
}

impl FromRequestParts<Arc<State>> for OverHttps {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
        let config = &state.config;
        Ok(OverHttps::of(config.serves_tls(), peer, &parts.headers, &config.trusted_proxies))
    }
}

/// The values of a header, each as text (values that are not are skipped).
fn header_values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect()
}

/// The elements of `Forwarded` (RFC 7239), in order, each as its
/// `(parameter, value)` pairs with quotes taken off the values.
fn forwarded_elements(headers: &HeaderMap) -> Vec<Vec<(String, String)>> {
    header_values(headers, "forwarded")
        .iter()
        .flat_map(|v| v.split(',').map(str::to_owned).collect::<Vec<_>>())
        .map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.trim().split_once('='))
                .map(|(name, value)| (name.to_ascii_lowercase(), value.trim_matches('"').to_owned()))
                .collect()
        })
        .collect()
}

/// The addresses of `Forwarded: for=` (RFC 7239) if present, else of
/// `X-Forwarded-For`, in order; what does not parse is skipped.
fn forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let forwarded: Vec<IpAddr> = forwarded_elements(headers)
        .iter()
        .filter_map(|element| {
            element.iter().find(|(name, _)| name == "for").and_then(|(_, v)| parse_address(v))
        })
        .collect();
    if !forwarded.is_empty() {
        return forwarded;
    }
    header_values(headers, "x-forwarded-for")
        .iter()
        .flat_map(|v| v.split(',').filter_map(parse_address).collect::<Vec<_>>())
        .collect()
}

/// The scheme the proxy nearest the server says the client used: the
/// `proto` of the last `Forwarded` element if there is such a header, else
/// the last entry of `X-Forwarded-Proto`. Only the nearest proxy is the
/// socket's peer, whose word the server can tie to an address it trusts.
fn forwarded_proto(headers: &HeaderMap) -> Option<String> {
    let elements = forwarded_elements(headers);
    if let Some(last) = elements.last() {
        return last.iter().find(|(name, _)| name == "proto").map(|(_, value)| value.clone());
    }
    let values = header_values(headers, "x-forwarded-proto");
    let last = values.iter().flat_map(|v| v.split(',')).map(str::trim).rfind(|v| !v.is_empty())?;
    Some(last.to_owned())
}

/// An address as forwarding headers write it: bare, `[v6]`, or with a port.
fn parse_address(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Ok(address) = text.parse::<IpAddr>() {
        return Some(address);
    }
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    text.strip_prefix('[').and_then(|rest| rest.split_once(']')).and_then(|(v6, _)| v6.parse().ok())
}

impl FromRequestParts<Arc<State>> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
        Ok(ClientAddress::of(peer, &parts.headers, &state.config.trusted_proxies))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_refused_after_its_allowance_until_its_window_ends() {
        let window = Window::new(3, 60);
        let key = "zhou".to_owned();
        for n in 1..=3 {
            assert_eq!(window.take(&key, 100), Ok(n));
        }
        assert_eq!(window.take(&key, 130), Err(Throttled { retry_after_secs: 30 }));
        // Another key is not slowed by it.
        assert_eq!(window.take(&"chen".to_owned(), 130), Ok(1));
        // A new window starts afresh.
        assert_eq!(window.take(&key, 160), Ok(1));
    }

    #[test]
    fn attempts_that_succeed_are_given_back() {
        let window = Window::new(2, 60);
        let key = "zhou".to_owned();
        for _ in 0..10 {
            assert_eq!(window.take(&key, 100), Ok(1));
            window.forgive(&key);
        }
        assert_eq!(window.take(&key, 100), Ok(1));
        assert_eq!(window.take(&key, 100), Ok(2));
        assert!(window.take(&key, 100).is_err());
    }

    #[test]
    fn refusals_write_a_few_audit_rows_per_window() {
        let rows: Vec<u32> = (1..=2000).filter(|n| audits_refusal(*n)).collect();
        assert_eq!(rows, [1, 2, 3, 10, 100, 1000]);
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    const PROXY: &str = "10.0.0.2";
    const PHONE: &str = "203.0.113.7";

    #[rstest::rstest]
    #[case::no_proxy_configured_the_header_is_ignored(PROXY, "x-forwarded-for", "1.2.3.4", "", PROXY)]
    #[case::a_strangers_header_is_ignored(PHONE, "x-forwarded-for", "1.2.3.4", PROXY, PHONE)]
    #[case::the_proxys_last_addition(PROXY, "x-forwarded-for", "1.2.3.4, 203.0.113.7", PROXY, PHONE)]
    #[case::rfc_7239_with_a_port(PROXY, "forwarded", "for=\"203.0.113.7:4711\";proto=https", PROXY, PHONE)]
    #[case::rfc_7239_ipv6(PROXY, "forwarded", "for=\"[2001:db8::1]:80\"", PROXY, "2001:db8::1")]
    #[case::a_proxy_without_a_header(PROXY, "x-unrelated", "1.2.3.4", PROXY, PROXY)]
    fn forwarding_headers_count_only_from_trusted_proxies(
        #[case] peer: &str,
        #[case] header: &'static str,
        #[case] value: &str,
        #[case] trusted: &str,
        #[case] expected: &str,
    ) {
        let trusted: Vec<IpAddr> = trusted.split(',').filter_map(|a| a.parse().ok()).collect();
        let client = ClientAddress::of(Some(peer.parse().unwrap()), &headers(&[(header, value)]), &trusted);
        assert_eq!(client, ClientAddress(expected.parse().unwrap()));
    }

    const SERVES_TLS: bool = true;
    const PLAIN: bool = false;

    #[rstest::rstest]
    #[case::the_server_serves_tls_itself(SERVES_TLS, PHONE, "x-unrelated", "", "", true)]
    #[case::tls_whatever_a_proxy_says(SERVES_TLS, PROXY, "x-forwarded-proto", "http", PROXY, true)]
    #[case::plain_http_without_a_proxy(PLAIN, PHONE, "x-unrelated", "", PROXY, false)]
    #[case::a_trusted_proxys_x_forwarded_proto(PLAIN, PROXY, "x-forwarded-proto", "https", PROXY, true)]
    #[case::a_trusted_proxys_rfc_7239_proto(
        PLAIN,
        PROXY,
        "forwarded",
        "for=203.0.113.7;proto=https",
        PROXY,
        true
    )]
    #[case::the_nearest_proxys_word_counts(
        PLAIN,
        PROXY,
        "forwarded",
        "proto=https, for=10.0.0.9",
        PROXY,
        false
    )]
    #[case::the_last_x_forwarded_proto(PLAIN, PROXY, "x-forwarded-proto", "http, HTTPS", PROXY, true)]
    #[case::a_trusted_proxy_saying_http(PLAIN, PROXY, "x-forwarded-proto", "http", PROXY, false)]
    #[case::a_strangers_claim_is_ignored(PLAIN, PHONE, "x-forwarded-proto", "https", PROXY, false)]
    #[case::no_proxy_configured_the_claim_is_ignored(PLAIN, PROXY, "forwarded", "proto=https", "", false)]
    fn a_request_is_over_https_when_the_server_serves_tls_or_a_trusted_proxy_says_so(
        #[case] serves_tls: bool,
        #[case] peer: &str,
        #[case] header: &'static str,
        #[case] value: &str,
        #[case] trusted: &str,
        #[case] expected: bool,
    ) {
        let trusted: Vec<IpAddr> = trusted.split(',').filter_map(|a| a.parse().ok()).collect();
        let headers = if value.is_empty() { HeaderMap::new() } else { headers(&[(header, value)]) };
        let over_https = OverHttps::of(serves_tls, Some(peer.parse().unwrap()), &headers, &trusted);
        assert_eq!(over_https, OverHttps(expected));
        assert_eq!(over_https.cookie_attributes(), if expected { "; Secure" } else { "" });
    }
}
