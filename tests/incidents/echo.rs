//! Incidents: echo (in progress).
