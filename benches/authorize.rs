//! One `Authorizer::authorize`, as the proxy calls it per request: classify, find the caller, decide.
//! ARCHITECTURE.md §7 gives the decision alone ≤ 1 µs on the seed policy; issue 14 gives the whole call
//! ≤ 2 µs. Measured on the four shapes a pull sends most: manifest GET, blob GET, the ECR API's
//! BatchGetImage and the presigned S3 layer GET. Each shape is decided once and its verdict checked before
//! measuring, so a refusal cannot be what is timed.

use std::path::Path;

use base64::Engine;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};
use vpce_proxy::authorize::{Authorizer, ConnFacts};
use vpce_proxy::classify::RequestHead;
use vpce_proxy::config::Config;
use vpce_proxy::load::{load_policies, Fingerprints};
use vpce_proxy::policy::{Outcome, ANONYMOUS};

const PRINCIPAL: &str = "arn:aws:sts::123456789123:assumed-role/bench/session";
/// The bench proxy's static registry token (scripts/bench.py), so this and `scripts/bench` measure alike.
const TOKEN: &str = "bench-static-registry-token";
/// The IAM User Guide's example key pair.
const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const AMZ_DATE: &str = "20260101T000000Z";
const DKR: &str = "123456789123.dkr.ecr.us-east-1.amazonaws.com";
const API: &str = "api.ecr.us-east-1.amazonaws.com";
const LAYERS: &str = "prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com";
const BATCH_GET_IMAGE: &str = r#"{"repositoryName":"app","imageIds":[{"imageTag":"latest"}]}"#;

/// scripts/bench.py's proxy config plus the ECR API and S3 policies and the principal's key pair; the
/// secret makes the proxy verify the signature, the dearest way it recognises a caller. Policy paths are
/// relative to this file, so the shipped seed policies decide, not copies that could drift.
const CONFIG: &str = r#"
[endpoint]
id = "vpce-0bench00000000001"
vpc_id = "vpc-0bench00000000001"
account = "123456789123"

[policies]
"ecr.dkr" = "../tests/e2e/policies/org-only-ecr-us-east-1.json"
"ecr.api" = "../tests/e2e/policies/org-only-ecr-us-east-1.json"
"s3" = "../tests/e2e/policies/s3-layer-bucket-us-east-1.json"

[[principal]]
arn = "arn:aws:sts::123456789123:assumed-role/bench/session"
account = "123456789123"
org_id = "o-21ej9awi6a"
registry_tokens = ["bench-static-registry-token"]
access_key_ids = ["AKIAIOSFODNN7EXAMPLE"]
secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
"#;

/// One request as it reaches `authorize`, and the verdict it must get.
struct Shape {
    name: &'static str,
    method: &'static str,
    host: &'static str,
    path: String,
    headers: HeaderMap,
    body: Option<&'static [u8]>,
    action: &'static str,
    principal: &'static str,
}

fn authorizer() -> Authorizer {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/authorize.toml");
    let config = Config::parse(CONFIG, &path).expect("bench config");
    let policies = load_policies(&config, &mut Fingerprints::default()).expect("seed policies");
    Authorizer::new(&config, policies)
}

/// Headers in order; a repeated name is appended, as a client sends several `Accept` lines.
fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let value = HeaderValue::from_str(value).expect("header value");
        map.append(HeaderName::from_bytes(name.as_bytes()).expect("header name"), value);
    }
    map
}

/// docker 26's registry request: Basic `AWS:TOKEN`, as `docker login` to ECR stores it.
fn registry(name: &'static str, path: String, accept: &[&str], action: &'static str) -> Shape {
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("AWS:{TOKEN}")));
    let mut pairs = vec![
        ("host", DKR),
        ("user-agent", "docker/26.1.5 go/go1.22.2 git-commit/411e817 os/linux arch/amd64"),
        ("authorization", basic.as_str()),
    ];
    pairs.extend(accept.iter().map(|a| ("accept", *a)));
    let headers = headers(&pairs);
    Shape { name, method: "GET", host: DKR, path, headers, body: None, action, principal: PRINCIPAL }
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The aws CLI's ECR API call, SigV4-signed over the headers botocore signs (IAM User Guide, "Create a
/// signed AWS API request"), with a genuine signature so the configured secret verifies it.
fn ecr_api() -> Shape {
    let target = "AmazonEC2ContainerRegistry_V20150921.BatchGetImage";
    let json = "application/x-amz-json-1.1";
    let signed = "content-type;host;x-amz-date;x-amz-target";
    let payload = hex::encode(Sha256::digest(BATCH_GET_IMAGE));
    let lines = format!("content-type:{json}\nhost:{API}\nx-amz-date:{AMZ_DATE}\nx-amz-target:{target}\n");
    let canonical = format!("POST\n/\n\n{lines}\n{signed}\n{payload}");
    let scope = "20260101/us-east-1/ecr/aws4_request";
    let to_sign =
        format!("AWS4-HMAC-SHA256\n{AMZ_DATE}\n{scope}\n{}", hex::encode(Sha256::digest(canonical)));
    let mut key = format!("AWS4{SECRET}").into_bytes();
    for part in scope.split('/') {
        key = hmac(&key, part);
    }
    let signature = hex::encode(hmac(&key, &to_sign));
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={KEY_ID}/{scope}, SignedHeaders={signed}, Signature={signature}"
    );
    let length = BATCH_GET_IMAGE.len().to_string();
    let headers = headers(&[
        ("host", API),
        ("x-amz-target", target),
        ("content-type", json),
        ("user-agent", "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64 command/ecr.batch-get-image"),
        ("x-amz-date", AMZ_DATE),
        ("authorization", auth.as_str()),
        ("content-length", length.as_str()),
    ]);
    let body = Some(BATCH_GET_IMAGE.as_bytes());
    let (method, path, action) = ("POST", "/".into(), "ecr:BatchGetImage");
    Shape { name: "batch_get_image", method, host: API, path, headers, body, action, principal: PRINCIPAL }
}

/// The layer URL of ECR's 307 from GetDownloadUrlForLayer: presigned by ECR's own session key, which no
/// `[[principal]]` names, so the caller is anonymous and the S3 endpoint policy's `"Principal": "*"` decides.
/// The session token stands in for a real one at its usual length (~1 KB, most of the query to decode).
fn presigned_layer() -> Shape {
    let token: String =
        "IQoJb3JpZ2luX2VjEJr%2F%2F%2F%2F%2F%2F%2F%2F%2F%2FwEaCXVzLWVhc3QtMSJHMEUCIQ".repeat(14);
    let path = format!(
        "/a1b2c3-123456789123-0f0a6d8e-3a3a-1e1c-1f4a-5b7c3d9e2f10/8c2e5f1a-7b3d-4e6f-9a1b-2c3d4e5f6a7b\
         ?X-Amz-Security-Token={token}&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={AMZ_DATE}\
         &X-Amz-SignedHeaders=host&X-Amz-Expires=3600\
         &X-Amz-Credential=ASIAQNZGKEXAMPLEECR1%2F20260101%2Fus-east-1%2Fs3%2Faws4_request\
         &X-Amz-Signature={}",
        "5d".repeat(32)
    );
    let headers =
        headers(&[("host", LAYERS), ("user-agent", "docker/26.1.5 go/go1.22.2 os/linux arch/amd64")]);
    let (name, method, action, principal) = ("presigned_s3_get", "GET", "s3:GetObject", ANONYMOUS);
    Shape { name, method, host: LAYERS, path, headers, body: None, action, principal }
}

fn shapes() -> Vec<Shape> {
    let docker_accept = [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
    ];
    let manifest = "/v2/app/manifests/latest".to_string();
    let blob = format!("/v2/app/blobs/sha256:{}", "9f86d081884c7d65".repeat(4));
    vec![
        registry("manifest_get", manifest, &docker_accept, "ecr:BatchGetImage"),
        registry("blob_get", blob, &[], "ecr:GetDownloadUrlForLayer"),
        ecr_api(),
        presigned_layer(),
    ]
}

fn head(shape: &Shape) -> RequestHead<'_> {
    RequestHead { method: shape.method, host: shape.host, path: &shape.path, headers: &shape.headers }
}

/// The verdict the shape must get, and the body prefix the proxy would hand over (all of it).
fn check(authorizer: &Authorizer, shape: &Shape, conn: &ConnFacts) {
    let head = head(shape);
    assert_eq!(authorizer.body_needed(&head), shape.body.map(<[u8]>::len), "{}: body read", shape.name);
    let verdict =
        authorizer.authorize(&head, shape.body, conn).unwrap_or_else(|r| panic!("{}: {r:?}", shape.name));
    assert_eq!(verdict.decision.outcome, Outcome::Allow, "{}: {:?}", shape.name, verdict.decision);
    let action = verdict.classification.permission.as_ref().map(|p| p.action.as_str());
    assert_eq!(action, Some(shape.action), "{}: action", shape.name);
    assert_eq!(verdict.principal, shape.principal, "{}: principal", shape.name);
}

fn bench(c: &mut Criterion) {
    let authorizer = authorizer();
    let conn = ConnFacts::default();
    let mut group = c.benchmark_group("authorize");
    for shape in shapes() {
        check(&authorizer, &shape, &conn);
        let head = head(&shape);
        group.bench_function(shape.name, |b| {
            b.iter(|| authorizer.authorize(black_box(&head), black_box(shape.body), black_box(&conn)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
