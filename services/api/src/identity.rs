//! Who is calling, from the identity API Gateway's authorizer put in the request context, and whose
//! images that caller may see (`imgpipe_domain::owner` says why each owner is what it is).
//!
//! Fail closed: the function knows the authorization mode Terraform configured (`IMGPIPE_AUTH_MODE`); in
//! `iam` or `jwt` mode a request that arrives without that identity (a route left without an authorizer,
//! a token without `sub`) is refused with 401 and never served.

use imgpipe_domain::config::AuthMode;
use imgpipe_domain::owner;
use lambda_http::http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::ApiError;

/// The caller: the owner its images get, and the names its older images may carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// `None` only in the `none` mode (the local pipeline): images without an owner, seen by everyone.
    pub owner: Option<String>,
    /// The owner values of records created before the current rule (the raw JWT `sub`, the full IAM caller
    /// ARN), matched until those records expire.
    pub legacy: Vec<String>,
}

impl Caller {
    /// Whether a record with this owner is the caller's.
    pub fn owns(&self, record_owner: Option<&str>) -> bool {
        match record_owner {
            None => true,
            Some(owner) => self.owner.as_deref() == Some(owner) || self.legacy.iter().any(|l| l == owner),
        }
    }

    /// Every owner value the caller's images may be stored under, the current one first.
    pub fn owners(&self) -> Vec<String> {
        self.owner.iter().chain(&self.legacy).cloned().collect()
    }
}

/// The caller of `request` under `mode`, or 401.
pub fn caller(request: &Request, mode: AuthMode) -> Result<Caller, ApiError> {
    let authorizer = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.authorizer.as_ref(),
        _ => None,
    };
    let unauthorized = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this API needs an authenticated caller; sign the request (SigV4) or send a bearer token",
        )
    };
    match mode {
        AuthMode::None => Ok(Caller {
            owner: None,
            legacy: Vec::new(),
        }),
        AuthMode::Jwt => {
            let claims = &authorizer.and_then(|a| a.jwt.as_ref()).ok_or_else(unauthorized)?.claims;
            let sub = claims.get("sub").ok_or_else(unauthorized)?;
            let iss = claims.get("iss").map(String::as_str).unwrap_or_default();
            Ok(Caller {
                owner: Some(owner::jwt(iss, sub).ok_or_else(unauthorized)?),
                legacy: vec![sub.clone()],
            })
        }
        AuthMode::Iam => {
            let iam = authorizer.and_then(|a| a.iam.as_ref()).ok_or_else(unauthorized)?;
            let cognito = iam.cognito_identity.as_ref().and_then(|c| c.identity_id.as_deref());
            let owner = match cognito {
                Some(identity) => owner::cognito(identity),
                None => iam.user_id.as_deref().and_then(owner::iam),
            };
            Ok(Caller {
                owner: Some(owner.ok_or_else(unauthorized)?),
                legacy: iam.user_arn.iter().cloned().collect(),
            })
        }
    }
}
