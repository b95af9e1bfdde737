//! Scenario leancloud_2015_08 (in progress).
