use harness::prelude::*;

#[incident(postmortem: "roblox-2021-consul", variant = before, budget = "90s")]
async fn colon(_lab: &mut Lab) -> Outcome {
    Ok(())
}

fn main() {}
