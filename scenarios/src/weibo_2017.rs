//! Scenario weibo_2017 (in progress).
