//! Incidents: roblox (in progress).
