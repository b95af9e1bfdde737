use harness::prelude::*;

#[incident(postmortem = "roblox-2021-consul")]
async fn no_variant_no_budget(_lab: &mut Lab) -> Outcome {
    Ok(())
}

fn main() {}
