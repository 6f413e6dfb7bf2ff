//! The client's address and user agent, believing `X-Forwarded-For` only from trusted proxies.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header;
use ipnet::IpNet;

/// The address a request came from. The socket peer, unless the peer is a trusted proxy: then
/// the right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(req: &HttpRequest, trusted_proxies: &[IpNet]) -> String {
    let Some(peer) = req.peer_addr().map(|addr| addr.ip()) else {
        return "unknown".into();
    };
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return peer.to_string();
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|part| part.trim().parse::<IpAddr>().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !trusted(ip))
        .or(forwarded.first())
        .copied()
        .unwrap_or(peer)
        .to_string()
}

pub fn user_agent(req: &HttpRequest) -> String {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(512)
        .collect()
}

/// A short "Browser on OS" description of a user agent, for session and login lists.
pub fn describe_user_agent(user_agent: &str) -> String {
    match woothee::parser::Parser::new().parse(user_agent) {
        Some(parsed) if parsed.name != "UNKNOWN" => {
            let os = if parsed.os == "UNKNOWN" {
                "unknown OS"
            } else {
                parsed.os
            };
            format!("{} on {os}", parsed.name)
        }
        _ if user_agent.is_empty() => "Unknown device".into(),
        _ => user_agent.chars().take(60).collect(),
    }
}

/// True when htmx sent the request (it expects a fragment, not a page).
pub fn is_htmx(req: &actix_web::HttpRequest) -> bool {
    req.headers().contains_key("hx-request")
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn nets(list: &str) -> Vec<IpNet> {
        list.split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect()
    }

    fn request_via(peer: &str, forwarded_for: &str) -> actix_web::HttpRequest {
        TestRequest::default()
            .peer_addr(peer.parse().unwrap())
            .insert_header(("X-Forwarded-For", forwarded_for))
            .to_http_request()
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let req = request_via("203.0.113.9:5000", "198.51.100.1");
        assert_eq!(client_ip(&req, &[]), "203.0.113.9");
        assert_eq!(client_ip(&req, &nets("10.0.0.0/8")), "203.0.113.9");
    }

    #[test]
    fn forwarded_for_is_believed_from_trusted_proxies() {
        let req = request_via("10.0.0.5:5000", "1.2.3.4, 198.51.100.1, 10.0.0.7");
        // the client cannot forge what the trusted proxy appended
        assert_eq!(client_ip(&req, &nets("10.0.0.0/8")), "198.51.100.1");
    }

    #[test]
    fn user_agents_are_described() {
        let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        assert_eq!(describe_user_agent(ua), "Chrome on Windows 10");
    }
}
