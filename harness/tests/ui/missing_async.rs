use harness::prelude::*;

#[incident(postmortem = "roblox-2021-consul", variant = before, budget = "90s")]
fn not_async(_lab: &mut Lab) -> Outcome {
    Ok(())
}

fn main() {}
