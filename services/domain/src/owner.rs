//! Who owns an image: a principal the caller cannot choose freely.
//!
//! | caller | owner | why |
//! |---|---|---|
//! | IAM user, role session, root (SigV4) | `iam:<unique id>`: the user's or role's unique id (`AIDA...`, `AROA...`), the session name dropped | the session name of an assumed role is chosen by whoever assumes it; the role's unique id is not, and a deleted and re-created role gets a new one |
//! | Cognito identity pool | `cognito:<identity id>` | every pool user assumes the same role; the identity id is each user's own |
//! | JWT | `jwt:<iss>|<sub>` | `sub` is unique per issuer only |
//! | an object written to `ingest/` | `iam:<unique id>` from the S3 event's principal | the same principal as through the API |
//!
//! Records created before this rule carry the old owner (the raw `sub`, or the caller's full ARN); the API
//! still matches those (`legacy`) until they expire, so nothing needs migrating.

/// The owner of an IAM caller from its unique id (`AROAEXAMPLE:session-name` -> `iam:AROAEXAMPLE`).
pub fn iam(user_id: &str) -> Option<String> {
    let unique = user_id.split(':').next().unwrap_or_default().trim();
    (!unique.is_empty()).then(|| format!("iam:{unique}"))
}

/// The owner of a Cognito identity-pool caller.
pub fn cognito(identity_id: &str) -> Option<String> {
    let id = identity_id.trim();
    (!id.is_empty()).then(|| format!("cognito:{id}"))
}

/// The owner of a JWT caller: issuer and subject together.
pub fn jwt(issuer: &str, subject: &str) -> Option<String> {
    let (issuer, subject) = (issuer.trim(), subject.trim());
    (!issuer.is_empty() && !subject.is_empty()).then(|| format!("jwt:{issuer}|{subject}"))
}

/// The owner of an object from its S3 event's `userIdentity.principalId` (`AWS:AROAEXAMPLE:session`,
/// `AWS:AIDAEXAMPLE`, or an account id for the root user).
pub fn from_s3_principal(principal_id: &str) -> Option<String> {
    iam(principal_id.strip_prefix("AWS:").unwrap_or(principal_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_sessions_of_one_role_are_one_owner_and_another_role_is_another() {
        assert_eq!(iam("AROAEXAMPLEROLE:job-1"), iam("AROAEXAMPLEROLE:job-2"));
        assert_eq!(iam("AROAEXAMPLEROLE:job-1").as_deref(), Some("iam:AROAEXAMPLEROLE"));
        assert_ne!(iam("AROAEXAMPLEROLE:job-1"), iam("AROAOTHERROLE:job-1"));
        assert_eq!(iam("AIDAEXAMPLEUSER").as_deref(), Some("iam:AIDAEXAMPLEUSER"));
        assert_eq!(iam(""), None);
    }

    #[test]
    fn ingested_objects_belong_to_the_same_principal_as_api_calls() {
        assert_eq!(
            from_s3_principal("AWS:AROAEXAMPLEROLE:sync-run-7"),
            iam("AROAEXAMPLEROLE:cli")
        );
        assert_eq!(from_s3_principal("AWS:AIDAEXAMPLEUSER"), iam("AIDAEXAMPLEUSER"));
    }

    #[test]
    fn jwt_subjects_are_scoped_by_issuer_and_identity_pool_users_by_identity() {
        assert_ne!(jwt("https://a.example", "alice"), jwt("https://b.example", "alice"));
        assert_eq!(jwt("https://a.example", ""), None);
        assert_ne!(cognito("eu-west-1:1111"), cognito("eu-west-1:2222"));
    }
}
