//! The private catalogue's matching engine: raw Chromaprint items of whole tracks and of
//! queries (at several sub-hop phases), an in-memory index over masked item terms, and the
//! query modes built on it. No database and no HTTP: the API crate stores catalogues and
//! serves searches (see the catalogue design in the project's issues).

pub mod index;
pub mod raw;
pub mod snippet;
