use harness::prelude::*;

#[incident(postmortem = "roblox-2021-consul", variant = before, budget = "90s")]
async fn generic<S: Send>(_lab: &mut Lab) -> Outcome {
    Ok(())
}

fn main() {}
