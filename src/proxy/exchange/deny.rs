//! The bytes of a synthetic response, shaped as the real service answers a refused request (the denial
//! formats in ARCHITECTURE.md), so clients print what they would print against AWS. Only
//! [`super::rescue::rescue`] calls it.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Method, Response, StatusCode};

use super::body::{full, ProxyBody};
use super::exit::{Exit, Refused};
use crate::classify::Service;

/// The response for `why` on `service`; `HEAD` gets the headers without a body.
pub(crate) fn response(
    service: Service,
    method: &Method,
    why: &Exit,
    request_id: &str,
) -> Response<ProxyBody> {
    let (status, content_type, body) = match service {
        Service::EcrApi => ecr_api(why),
        Service::EcrDkr => registry(why),
        Service::S3 => s3(why, request_id),
    };
    // An over-long head keeps its HTTP meaning (hyper answers the same for one it catches itself).
    let status = match why {
        Exit::Refused(Refused::HeadTooLarge(..)) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        _ => status,
    };
    let length = body.len();
    let body = if method == Method::HEAD { Bytes::new() } else { Bytes::from(body) };
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    let id = HeaderValue::from_str(request_id).unwrap_or(HeaderValue::from_static("0"));
    match service {
        Service::EcrApi => {
            if status != StatusCode::BAD_GATEWAY {
                headers.insert("x-amzn-errortype", HeaderValue::from_static("AccessDeniedException"));
            }
            headers.insert("x-amzn-requestid", id);
        }
        Service::EcrDkr => {
            headers.insert("docker-distribution-api-version", HeaderValue::from_static("registry/2.0"));
            if let Exit::Challenged(challenge) = why {
                let value = HeaderValue::from_str(challenge).unwrap_or(HeaderValue::from_static("Basic"));
                headers.insert(WWW_AUTHENTICATE, value);
            }
        }
        Service::S3 => {
            headers.insert("x-amz-request-id", id);
        }
    }
    response
}

fn message(why: &Exit) -> String {
    match why {
        Exit::Denied(m) => m.clone(),
        Exit::Refused(why) => format!("Request refused by the VPC endpoint: {why}"),
        Exit::BadGateway(m) | Exit::ClientGone(m) => format!("vpce-proxy: {m}"),
        Exit::Challenged(_) => "Not Authorized".to_string(),
    }
}

fn ecr_api(why: &Exit) -> (StatusCode, &'static str, String) {
    let (status, kind) = match why {
        Exit::BadGateway(_) => (StatusCode::BAD_GATEWAY, "ServiceUnavailableException"),
        _ => (StatusCode::BAD_REQUEST, "AccessDeniedException"),
    };
    let body = serde_json::json!({"__type": kind, "message": message(why)}).to_string();
    (status, "application/x-amz-json-1.1", body)
}

fn registry(why: &Exit) -> (StatusCode, &'static str, String) {
    if let Exit::Challenged(_) = why {
        // ECR's own 401: plain text, no registry error JSON.
        return (StatusCode::UNAUTHORIZED, "text/plain; charset=utf-8", "Not Authorized\n".to_string());
    }
    let (status, code) = match why {
        Exit::BadGateway(_) => (StatusCode::BAD_GATEWAY, "UNAVAILABLE"),
        _ => (StatusCode::FORBIDDEN, "DENIED"),
    };
    let body = serde_json::json!({"errors": [{"code": code, "message": message(why)}]}).to_string();
    (status, "application/json", body)
}

fn s3(why: &Exit, request_id: &str) -> (StatusCode, &'static str, String) {
    let (status, code) = match why {
        Exit::BadGateway(_) => (StatusCode::BAD_GATEWAY, "ServiceUnavailable"),
        _ => (StatusCode::FORBIDDEN, "AccessDenied"),
    };
    let text = match why {
        Exit::Denied(m) => quote_resource(m),
        other => message(other),
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message>\
         <RequestId>{}</RequestId></Error>",
        xml_escape(&text),
        xml_escape(request_id)
    );
    (status, "application/xml", body)
}

/// S3 quotes the resource in its denial (`on resource: "arn:aws:s3:::b/k" because ...`); IAM messages
/// elsewhere do not. Keys may contain spaces, so the resource runs up to the reason that follows it.
fn quote_resource(message: &str) -> String {
    const MARK: &str = " on resource: ";
    let Some(start) = message.find(MARK).map(|i| i + MARK.len()) else { return message.to_string() };
    let rest = &message[start..];
    if rest.starts_with('"') {
        return message.to_string();
    }
    let end = [" because ", " with an explicit deny"]
        .iter()
        .filter_map(|m| rest.find(m))
        .min()
        .unwrap_or(rest.len());
    format!("{}\"{}\"{}", &message[..start], &rest[..end], &rest[end..])
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Refusal;
    use crate::proxy::exchange::exit::Refused;
    use http_body_util::BodyExt;

    async fn parts(service: Service, method: Method, why: Exit) -> (u16, http::HeaderMap, String) {
        let response = response(service, &method, &why, "11111111-2222-3333-4444-555555555555");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    const MSG: &str = "User: anonymous is not authorized to perform: ecr:PutImage on resource: \
                       arn:aws:ecr:us-east-1:111122223333:repository/app because no VPC endpoint policy allows \
                       the ecr:PutImage action";

    /// Shapes from ARCHITECTURE.md §4, taken from the AWS JSON 1.1 protocol error format
    /// (https://smithy.io/2.0/aws/protocols/aws-json-1_1-protocol.html), the distribution spec's error
    /// codes (https://distribution.github.io/distribution/spec/api/#errors) and S3's error responses
    /// (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
    #[tokio::test]
    async fn denial_shapes_per_service() {
        let (status, headers, body) = parts(Service::EcrApi, Method::POST, Exit::Denied(MSG.into())).await;
        assert_eq!(status, 400);
        assert_eq!(headers["content-type"], "application/x-amz-json-1.1");
        assert_eq!(headers["x-amzn-errortype"], "AccessDeniedException");
        assert_eq!(headers["x-amzn-requestid"], "11111111-2222-3333-4444-555555555555");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json, serde_json::json!({"__type": "AccessDeniedException", "message": MSG}));

        let (status, headers, body) = parts(Service::EcrDkr, Method::PUT, Exit::Denied(MSG.into())).await;
        assert_eq!(status, 403);
        assert_eq!(headers["docker-distribution-api-version"], "registry/2.0");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json, serde_json::json!({"errors": [{"code": "DENIED", "message": MSG}]}));

        let (status, headers, body) = parts(Service::EcrDkr, Method::HEAD, Exit::Denied(MSG.into())).await;
        assert_eq!((status, body.as_str()), (403, ""));
        assert_eq!(headers["content-type"], "application/json");

        let s3_msg = "User: anonymous is not authorized to perform: s3:GetObject on resource: \
                      arn:aws:s3:::b/k with space because no VPC endpoint policy allows the s3:GetObject action";
        let (status, headers, body) = parts(Service::S3, Method::GET, Exit::Denied(s3_msg.into())).await;
        assert_eq!(status, 403);
        assert_eq!(headers["content-type"], "application/xml");
        assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
        assert!(
            body.contains("on resource: &quot;arn:aws:s3:::b/k with space&quot; because no VPC"),
            "{body}"
        );
        assert!(body.contains("<RequestId>11111111-2222-3333-4444-555555555555</RequestId>"), "{body}");
    }

    #[tokio::test]
    async fn refusals_and_gateway_errors_name_the_problem() {
        let why = Refusal("Host header a.example does not match the CONNECT target".into());
        let why = Exit::Refused(Refused::Classifier(why));
        let (status, _, body) = parts(Service::EcrDkr, Method::GET, why).await;
        assert_eq!(status, 403);
        assert!(body.contains("Request refused by the VPC endpoint: Host header a.example"), "{body}");
        let why = Exit::BadGateway("cannot reach upstream x:443: connection refused".into());
        let (status, _, body) = parts(Service::EcrApi, Method::POST, why).await;
        assert_eq!(status, 502);
        assert!(body.contains("cannot reach upstream x:443"), "{body}");
    }

    #[test]
    fn already_quoted_resources_stay_as_they_are() {
        let m =
            "User: a is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::b/k\" because x";
        assert_eq!(quote_resource(m), m);
        assert_eq!(quote_resource("no resource here"), "no resource here");
    }
}
