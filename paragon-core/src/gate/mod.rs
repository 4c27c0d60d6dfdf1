//! The gate: a [`Policy`](policy::Policy) decides which findings fail a
//! run, and [`VexDocument`](vex::VexDocument)s say which findings do not
//! apply.

pub mod policy;
#[cfg(feature = "rego")]
pub mod rego;
pub mod vex;
