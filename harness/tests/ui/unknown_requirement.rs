use harness::prelude::*;

#[incident(postmortem = "roblox-2021-consul", variant = before, budget = "90s",
           requires = [consul_legacy, mongodb, redis])]
async fn needs_what_does_not_exist(_lab: &mut Lab) -> Outcome {
    Ok(())
}

fn main() {}
