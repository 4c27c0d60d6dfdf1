//! The gate: a [`Policy`](policy::Policy) decides which findings fail a
//! run, and [`VexDocument`](vex::VexDocument)s say which findings do not
//! apply.

pub mod policy;
pub mod vex;
