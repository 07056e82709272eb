//! Persistence for Recozik (filled in by the storage issue).
