//! How requests prove who sends them: nothing (the local stack), a bearer token (JWT authorizer), or
//! AWS SigV4 for API Gateway's IAM authorization.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

#[derive(Clone, Debug)]
pub enum Auth {
    None,
    Bearer(String),
    SigV4 { credentials: Credentials, region: String },
}

#[derive(Debug, thiserror::Error)]
#[error("cannot sign the request: {0}")]
pub struct SigningError(String);

impl Auth {
    /// Adds the credentials to `request`, whose body is `body`.
    pub fn apply(&self, request: &mut http::Request<bytes::Bytes>, now: SystemTime) -> Result<(), SigningError> {
        match self {
            Auth::None => Ok(()),
            Auth::Bearer(token) => {
                let value = http::HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| SigningError("the token is not a valid header value".into()))?;
                request.headers_mut().insert(http::header::AUTHORIZATION, value);
                Ok(())
            }
            Auth::SigV4 { credentials, region } => sign_v4(request, credentials, region, now),
        }
    }
}

fn sign_v4(
    request: &mut http::Request<bytes::Bytes>,
    credentials: &Credentials,
    region: &str,
    now: SystemTime,
) -> Result<(), SigningError> {
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("execute-api")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SigningError(e.to_string()))?
        .into();
    let headers: Vec<(&str, &str)> = request
        .headers()
        .iter()
        .filter_map(|(name, value)| value.to_str().ok().map(|v| (name.as_str(), v)))
        .collect();
    let uri = request.uri().to_string();
    let signable = SignableRequest::new(
        request.method().as_str(),
        &uri,
        headers.into_iter(),
        SignableBody::Bytes(request.body()),
    )
    .map_err(|e| SigningError(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| SigningError(e.to_string()))?
        .into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}

/// The region of an API Gateway default endpoint (`{id}.execute-api.{region}.amazonaws.com`).
pub fn region_from_url(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split(['/', ':']).next()?;
    let mut labels = host.split('.');
    let (_id, service, region) = (labels.next()?, labels.next()?, labels.next()?);
    (service == "execute-api" && !region.is_empty()).then(|| region.to_owned())
}

/// Whether `url` is an AWS endpoint, where unauthenticated requests make no sense.
pub fn is_aws_endpoint(url: &str) -> bool {
    url.split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':']).next())
        .map(|host| host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_come_from_default_endpoints_only() {
        assert_eq!(
            region_from_url("https://a1b2c3.execute-api.eu-west-1.amazonaws.com/images").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_from_url("https://api.example.com/"), None);
        assert_eq!(region_from_url("http://127.0.0.1:8080"), None);
        assert!(is_aws_endpoint("https://a1b2c3.execute-api.eu-west-1.amazonaws.com"));
        assert!(!is_aws_endpoint("http://127.0.0.1:8080"));
    }

    #[test]
    fn sigv4_signs_for_execute_api_in_the_region() {
        let credentials = Credentials::new("AKIDEXAMPLE", "secret", Some("session".into()), None, "test");
        let auth = Auth::SigV4 {
            credentials,
            region: "eu-west-1".into(),
        };
        let mut request = http::Request::builder()
            .method("POST")
            .uri("https://a1b2c3.execute-api.eu-west-1.amazonaws.com/images")
            .header("content-type", "application/json")
            .body(bytes::Bytes::from_static(b"{}"))
            .unwrap();
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_780_000_000);
        auth.apply(&mut request, now).unwrap();
        let authorization = request.headers()["authorization"].to_str().unwrap();
        assert!(
            authorization
                .starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260528/eu-west-1/execute-api/aws4_request"),
            "{authorization}"
        );
        let signed = authorization
            .split("SignedHeaders=")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap();
        for header in ["content-type", "host", "x-amz-date", "x-amz-security-token"] {
            assert!(signed.split(';').any(|h| h == header), "{header} not signed: {signed}");
        }
        assert_eq!(request.headers()["x-amz-security-token"], "session");
        // The same request signed again at the same instant gives the same signature; another body does not.
        let mut again = request.clone();
        again.headers_mut().remove("authorization");
        auth.apply(&mut again, now).unwrap();
        assert_eq!(again.headers()["authorization"], request.headers()["authorization"]);
        let mut other = http::Request::builder()
            .method("POST")
            .uri("https://a1b2c3.execute-api.eu-west-1.amazonaws.com/images")
            .header("content-type", "application/json")
            .body(bytes::Bytes::from_static(b"{\"a\":1}"))
            .unwrap();
        auth.apply(&mut other, now).unwrap();
        assert_ne!(other.headers()["authorization"], request.headers()["authorization"]);
    }

    #[test]
    fn bearer_tokens_go_in_the_authorization_header() {
        let mut request = http::Request::new(bytes::Bytes::new());
        Auth::Bearer("t0k3n".into())
            .apply(&mut request, SystemTime::now())
            .unwrap();
        assert_eq!(request.headers()["authorization"], "Bearer t0k3n");
        assert!(Auth::Bearer("bad\ntoken".into())
            .apply(&mut http::Request::new(bytes::Bytes::new()), SystemTime::now())
            .is_err());
    }
}
