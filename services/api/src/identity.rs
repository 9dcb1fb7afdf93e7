use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

/// The caller's identity from the authorizer: the JWT `sub`, else the IAM caller's ARN.
pub fn caller(request: &Request) -> Option<String> {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        return None;
    };
    let authorizer = context.authorizer.as_ref()?;
    if let Some(sub) = authorizer.jwt.as_ref().and_then(|jwt| jwt.claims.get("sub")) {
        return Some(sub.clone());
    }
    authorizer.iam.as_ref().and_then(|iam| iam.user_arn.clone())
}
