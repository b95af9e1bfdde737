use harness::prelude::*;

#[incident(postmortem = "roblox-2021-consul", variant = before, budget = "90s")]
async fn shared_reference(_lab: &Lab) -> Outcome {
    Ok(())
}

#[incident(postmortem = "roblox-2021-consul", variant = before, budget = "90s")]
async fn by_value(_lab: Lab) -> Outcome {
    Ok(())
}

#[incident(postmortem = "roblox-2021-consul", variant = before, budget = "90s")]
async fn not_a_lab(_ctx: &mut LabCtx) -> Outcome {
    Ok(())
}

fn main() {}
