//! Incidents: smoke (in progress).
