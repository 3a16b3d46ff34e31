//! vpce-proxy: a TLS-terminating forward proxy that behaves like an AWS interface VPC endpoint for
//! Amazon ECR.
//!
//! The data flow is the module order:
//! - [`config`] reads `vpce-proxy.toml`, and [`load`] the policy files it names (one path for start-up,
//!   reload and `explain`);
//! - [`classify`] turns an HTTP request into an IAM question (service, action, resource, principal);
//! - [`policy`] answers it exactly as AWS would (endpoint, identity and resource policies);
//! - [`directory`] holds what the endpoint is told about accounts, repositories and buckets (the
//!   resource context keys);
//! - [`authorize`] joins the two: the one call the proxy and `explain` make per request, remembering
//!   the registry tokens it saw issued in [`bindings`];
//! - [`proxy`] wires it to the network: CONNECT/SNI listeners, certificates, forwarding, denials;
//! - [`audit`] and [`admin`] make it operable: one JSON line per decision, `/healthz`, `/metrics`;
//! - `rollout` reads the audit log back: `generate` a policy from it, replay it against another;
//! - [`commands`] holds one module per subcommand.
//!
//! `classify` and `policy` do no I/O, so every AWS rule is a table row in a unit test.
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

pub mod admin;
pub mod audit;
pub mod authorize;
pub mod bindings;
pub mod classify;
pub mod commands;
pub mod config;
pub mod directory;
pub(crate) mod files;
#[doc(hidden)]
pub mod fuzzing;
pub mod load;
pub mod policy;
pub mod proxy;
pub mod reload;
pub(crate) mod rollout;
