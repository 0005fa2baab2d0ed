//! Where the code host serves REST and GraphQL, derived from the one API URL an operator or
//! agent gives, as GitHub's own clients derive it (@octokit's replace a trailing `/api/v3` with
//! `/api` for GraphQL): GitHub Enterprise Server serves REST under `https://HOST/api/v3` and
//! GraphQL at `https://HOST/api/graphql` (GitHub's "Forming calls with GraphQL" for GHES);
//! github.com serves both at one root (`https://api.github.com` and `.../graphql`).

/// The code host's two API endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The REST API's base, as given, without a trailing slash.
    pub rest: String,
    /// GraphQL's URL.
    pub graphql: String,
    /// Whether `graphql` was derived from `rest` or set by the operator.
    pub graphql_source: GraphqlSource,
    /// `scheme://host[:port]` of both.
    pub(crate) origin: String,
    /// The REST API's path under the origin (`/api/v3` on GHES, empty on github.com).
    pub(crate) rest_prefix: String,
    /// GraphQL's path under the origin.
    pub(crate) graphql_path: String,
}

/// Where the GraphQL URL came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphqlSource {
    /// Derived from the API URL.
    Derived,
    /// `[github] graphql_url` in the server config.
    Configured,
}

impl Endpoints {
    /// The endpoints for the API URL `api_url`, GraphQL derived from it unless `graphql_url`
    /// overrides it. The override must be on the API URL's host: both are one code host, and
    /// its credentials go to both. The error says what is wrong and what to write.
    pub fn derive(api_url: &str, graphql_url: Option<&str>) -> Result<Endpoints, String> {
        let rest = api_url.trim_end_matches('/').to_string();
        let parsed = parse_api_url(&rest)?;
        let origin = parsed.origin().ascii_serialization();
        let rest_prefix = parsed.path().trim_end_matches('/').to_string();
        let (graphql_path, graphql_source) = match graphql_url {
            None => (graphql_path_for(&rest_prefix), GraphqlSource::Derived),
            Some(given) => {
                let g = parse_api_url(given.trim_end_matches('/'))
                    .map_err(|e| format!("graphql_url {e}"))?;
                if g.origin().ascii_serialization() != origin {
                    return Err(format!(
                        "graphql_url {given:?} is not on the API URL's host ({origin}); prgate sends the same credentials to both, so give a URL on {origin}, or leave graphql_url out to derive it"
                    ));
                }
                let path = g.path().trim_end_matches('/');
                if path.is_empty() {
                    return Err(format!(
                        "graphql_url {given:?} names no path; give GraphQL's full URL (e.g. {origin}/api/graphql)"
                    ));
                }
                (path.to_string(), GraphqlSource::Configured)
            }
        };
        Ok(Endpoints {
            graphql: format!("{origin}{graphql_path}"),
            rest,
            graphql_source,
            origin,
            rest_prefix,
            graphql_path,
        })
    }
}

/// GitHub's GraphQL endpoint on github.com's shape, relative to the API root.
const GRAPHQL_PATH: &str = "/graphql";

/// Where GraphQL lives for a REST API at `rest_prefix` (the API URL's path): a prefix ending
/// in `/api/v3` (GHES) has GraphQL at `.../api/graphql`; any other at `<prefix>/graphql`.
fn graphql_path_for(rest_prefix: &str) -> String {
    let prefix = rest_prefix.trim_end_matches('/');
    match prefix.strip_suffix("/api/v3") {
        Some(host_prefix) => format!("{host_prefix}/api/graphql"),
        None => format!("{prefix}{GRAPHQL_PATH}"),
    }
}

/// Checks that `value` is an http(s) URL with a host before any client sees it (octocrab
/// panics on some malformed ones); the error names what was wrong and what to write.
pub fn parse_api_url(value: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(value).map_err(|e| format!("{value:?} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{value:?} is not an http or https URL (scheme {:?})",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{value:?} names no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{value:?} has a query or fragment; give the API's base URL"
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphql_lives_where_github_serves_it_for_the_api_url() {
        assert_eq!(graphql_path_for(""), "/graphql");
        assert_eq!(graphql_path_for("/api/v3"), "/api/graphql");
        assert_eq!(graphql_path_for("/api/v3/"), "/api/graphql");
        assert_eq!(graphql_path_for("/github/api/v3"), "/github/api/graphql");
        assert_eq!(graphql_path_for("/proxy"), "/proxy/graphql");
    }

    #[test]
    fn both_endpoints_come_from_the_one_api_url() {
        let cases = [
            ("https://api.github.com", "https://api.github.com/graphql"),
            ("https://api.github.com/", "https://api.github.com/graphql"),
            (
                "https://ghe.example.com/api/v3",
                "https://ghe.example.com/api/graphql",
            ),
            (
                "https://ghe.example.com/api/v3/",
                "https://ghe.example.com/api/graphql",
            ),
            ("http://127.0.0.1:8787", "http://127.0.0.1:8787/graphql"),
        ];
        for (api, graphql) in cases {
            let e = Endpoints::derive(api, None).unwrap();
            assert_eq!(e.rest, api.trim_end_matches('/'));
            assert_eq!(e.graphql, graphql, "{api}");
            assert_eq!(e.graphql_source, GraphqlSource::Derived);
        }
    }

    #[test]
    fn an_operator_may_override_graphql_on_the_same_host_only() {
        let e = Endpoints::derive(
            "https://ghe.example.com/api/v3",
            Some("https://ghe.example.com/proxy/graphql"),
        )
        .unwrap();
        assert_eq!(e.graphql, "https://ghe.example.com/proxy/graphql");
        assert_eq!(e.graphql_path, "/proxy/graphql");
        assert_eq!(e.rest_prefix, "/api/v3");
        assert_eq!(e.graphql_source, GraphqlSource::Configured);
        let other_host = Endpoints::derive(
            "https://ghe.example.com/api/v3",
            Some("https://elsewhere.example.com/api/graphql"),
        )
        .unwrap_err();
        assert!(
            other_host.contains("not on the API URL's host"),
            "{other_host}"
        );
        let no_path = Endpoints::derive(
            "https://ghe.example.com/api/v3",
            Some("https://ghe.example.com"),
        )
        .unwrap_err();
        assert!(no_path.contains("names no path"), "{no_path}");
        assert!(Endpoints::derive("https://ghe.example.com/api/v3", Some("nope")).is_err());
    }
}
