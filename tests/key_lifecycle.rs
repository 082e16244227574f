//! Key lifecycle against the real IdP.
