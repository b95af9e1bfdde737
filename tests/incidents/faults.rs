//! Incidents: faults (in progress).
