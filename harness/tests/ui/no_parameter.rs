use harness::prelude::*;

#[incident(postmortem = "roblox-2021-consul", variant = before, budget = "90s")]
async fn takes_nothing() -> Outcome {
    Ok(())
}

fn main() {}
