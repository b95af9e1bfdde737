use harness::prelude::*;

struct Suite;

impl Suite {
    #[incident(postmortem = "roblox-2021-consul", variant = before, budget = "90s")]
    async fn method(&mut self) -> Outcome {
        Ok(())
    }
}

fn main() {}
