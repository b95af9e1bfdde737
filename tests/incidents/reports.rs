//! Incidents: reports (in progress).
