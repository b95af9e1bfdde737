use harness::prelude::*;

#[incident(postmortem = "roblox-2021-consul", variant = before, budget = "90s")]
async fn takes_a_scale(_lab: &mut Lab, scale: u32) -> Outcome {
    let _ = scale;
    Ok(())
}

fn main() {}
