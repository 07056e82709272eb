//! The job kinds, one file each, and the one place they are registered.

pub mod identify_batch;
pub mod identify_upload;

use crate::kind::Registry;

/// Every kind this server runs. Adding a kind: its file in this folder, and one line here.
pub fn registry() -> Registry {
    Registry::new()
        .register(identify_upload::IdentifyUpload)
        .register(identify_batch::IdentifyBatch)
}
