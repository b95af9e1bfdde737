use harness::prelude::*;

#[incident(postmortem = "roblox-2021-consul", variant = before, budget = "90s")]
async fn returns_nothing(_lab: &mut Lab) {}

#[incident(postmortem = "roblox-2021-consul", variant = before, budget = "90s")]
async fn returns_a_bool(_lab: &mut Lab) -> bool {
    true
}

fn main() {}
