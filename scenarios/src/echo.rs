//! Scenario echo (in progress).
