//! Authentication and authorisation for Recozik (filled in by the auth issue).
