//! Incidents: mongo (in progress).
