//! Scenario roblox_2021 (in progress).
