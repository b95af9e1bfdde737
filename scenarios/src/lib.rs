//! One module per postmortem: the incident logic as a function of a lab
//! and a scale, so the suite's tests stay short and other budgets or scales
//! reuse it. Each reads like the postmortem's timeline.

pub mod aws_s3_2017;
pub mod chat;
pub mod cloudflare_2020;
pub mod echo;
pub mod foursquare_2010;
pub mod leancloud_2015_06;
pub mod leancloud_2015_08;
pub mod roblox_2021;
pub mod weibo_2017;
