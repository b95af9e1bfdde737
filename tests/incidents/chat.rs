//! Incidents: chat (in progress).
