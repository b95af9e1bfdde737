use harness::prelude::*;

#[incident(postmortem = "roblox-2021-consul", variant = during, budget = "90s")]
async fn no_such_variant(_lab: &mut Lab) -> Outcome {
    Ok(())
}

#[incident(postmortem = "roblox-2021-consul", variant = "after", budget = "90s")]
async fn quoted_variant(_lab: &mut Lab) -> Outcome {
    Ok(())
}

fn main() {}
