use harness::prelude::*;

#[incident(postmortem = "roblox-2021-consul", variant = before, budget = "90s", tags = heavy)]
async fn tags_without_brackets(_lab: &mut Lab) -> Outcome {
    Ok(())
}

fn main() {}
