//! `aws:RequestTag/*` and `aws:TagKeys` from the tags an ECR API call sets or removes (Service
//! Authorization Reference, Amazon ECR: CreateRepository and TagResource list both keys, UntagResource
//! lists `aws:TagKeys`; IAM User Guide, "AWS global condition context keys", aws:RequestTag and
//! aws:TagKeys).
//!
//! A tag-based condition must see the tags upstream would apply, so a body whose tags cannot be read is
//! refused rather than classified as if it carried none.

use super::body::{Field, Fields};
use super::Refusal;
use crate::policy::{ContextValue, RequestContext};

/// The body member that carries tags, for each operation that sets or removes them.
fn tag_member(op: &str) -> Option<&'static str> {
    match op {
        "CreateRepository" | "TagResource" => Some("tags"),
        "UntagResource" => Some("tagKeys"),
        _ => None,
    }
}

/// Sets the request-tag keys of `op` from its body fields.
pub(crate) fn request_tags(op: &str, fields: &Fields, ctx: &mut RequestContext) -> Result<(), Refusal> {
    let Some(member) = tag_member(op) else { return Ok(()) };
    let Some((_, field)) = fields.iter().find(|(k, _)| k == member) else { return Ok(()) };
    let keys = match field {
        Field::Tags(tags) => {
            for (k, v) in tags {
                ctx.set(&format!("aws:RequestTag/{k}"), v.clone());
            }
            tags.iter().map(|(k, _)| k.clone()).collect()
        }
        Field::StrList(keys) if member == "tagKeys" => keys.clone(),
        Field::StrList(empty) if empty.is_empty() => Vec::new(),
        _ => return Err(Refusal(format!("{op}: {member} is not a list of tags"))),
    };
    ctx.insert("aws:TagKeys", ContextValue::Multi(keys));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::body::parse_complete;

    fn context(op: &str, body: &str) -> Result<Vec<(String, Vec<String>)>, Refusal> {
        let mut ctx = RequestContext::new();
        request_tags(op, &parse_complete(body.as_bytes()).unwrap(), &mut ctx)?;
        let mut out: Vec<_> =
            ctx.iter().map(|(k, v)| (k.to_string(), v.values().map(str::to_string).collect())).collect();
        out.sort();
        Ok(out)
    }

    /// Service Authorization Reference, Amazon ECR: one row per operation that sets or removes tags.
    #[test]
    fn tagging_operations_set_request_tags_and_tag_keys() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let create = r#"{"repositoryName": "r", "tags": [{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "b"}]}"#;
        assert_eq!(
            context("CreateRepository", create).unwrap(),
            vec![
                ("aws:requesttag/env".into(), v(&["b"])),
                ("aws:requesttag/team".into(), v(&["a"])),
                ("aws:tagkeys".into(), v(&["team", "env"])),
            ]
        );
        let tag = r#"{"resourceArn": "x", "tags": [{"Key": "team", "Value": "a"}]}"#;
        assert_eq!(context("TagResource", tag).unwrap().len(), 2);
        let untag = r#"{"resourceArn": "x", "tagKeys": ["team", "env"]}"#;
        assert_eq!(
            context("UntagResource", untag).unwrap(),
            vec![("aws:tagkeys".into(), v(&["team", "env"]))]
        );
        assert_eq!(context("CreateRepository", r#"{"repositoryName": "r"}"#).unwrap(), vec![]);
        assert_eq!(context("PutImage", tag).unwrap(), vec![]);
    }

    /// Tags upstream would apply but the classifier cannot read are refused, never treated as none.
    #[test]
    fn unreadable_tags_are_refused() {
        let rows = [
            r#"{"repositoryName": "r", "tags": [{"Key": "team"}]}"#,
            r#"{"repositoryName": "r", "tags": [{"Key": "t", "Value": "a", "Extra": "b"}]}"#,
            r#"{"repositoryName": "r", "tags": "team=a"}"#,
            r#"{"repositoryName": "r", "tags": ["team"]}"#,
        ];
        for body in rows {
            assert!(context("CreateRepository", body).is_err(), "{body}");
        }
    }
}
