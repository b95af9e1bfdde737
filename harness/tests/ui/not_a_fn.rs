use harness::prelude::*;

#[incident(postmortem = "roblox-2021-consul", variant = before, budget = "90s")]
struct Roblox;

fn main() {}
