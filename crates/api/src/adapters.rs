//! Implementations of `recozik_core`'s policy and cache traits over `recozik_auth` and
//! `recozik_storage`. They live in [`recozik_jobs::policy`], which job kinds and the API's
//! synchronous routes share; re-exported here for embedders.

pub use recozik_jobs::policy::{DatabaseLookupCache, PrincipalPolicy};
