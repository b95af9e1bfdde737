//! The incident suite.
