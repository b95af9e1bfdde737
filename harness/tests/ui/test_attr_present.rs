use harness::prelude::*;

#[incident(postmortem = "roblox-2021-consul", variant = before, budget = "90s")]
#[test]
async fn already_a_test(_lab: &mut Lab) -> Outcome {
    Ok(())
}

fn main() {}
