use harness::prelude::*;

#[incident(
    postmortem = "roblox-2021-consul",
    variant = before,
    budget = "90s",
    always = [integrity, "Integrity.KV", integrity, 3]
)]
async fn always_misspelt(_lab: &mut Lab) -> Outcome {
    Ok(())
}

fn main() {}
