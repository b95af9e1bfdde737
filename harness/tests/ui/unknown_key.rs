use harness::prelude::*;

#[incident(postmortem = "roblox-2021-consul", variant = before, budgt = "90s")]
async fn typo_in_a_key(lab: &mut Lab) -> Outcome {
    lab.note("never runs");
    Ok(())
}

fn main() {}
