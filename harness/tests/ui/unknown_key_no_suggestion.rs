use harness::prelude::*;

#[incident(postmortem = "roblox-2021-consul", variant = before, budget = "90s", flavour = "x")]
async fn made_up_key(_lab: &mut Lab) -> Outcome {
    Ok(())
}

fn main() {}
