//! Scenario leancloud_2015_06 (in progress).
