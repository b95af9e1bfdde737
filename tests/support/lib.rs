//! Shared helpers for the incident suite.
