use harness::prelude::*;

/// Every key, keyword tags, attributes that are kept.
#[incident(postmortem = "leancloud-2015-08-chat", variant = after, budget = "90s",
           timeout = "6m", seed = 42, tags = [heavy, "chat", async],
           requires = [chat_gateway, toxiproxy, docker],
           always = [integrity, "availability.recovery"],)]
#[ignore = "compile-only"]
pub async fn partitioned_node_with_backoff(lab: &mut Lab) -> Outcome {
    lab.note("partition");
    Ok(())
}

/// Only the required keys; qualified types.
#[incident(variant = before, budget = "1m30s", postmortem = "roblox-2021-consul")]
async fn minimal(mut lab: &mut harness::Lab) -> harness::Outcome {
    let again = &mut lab;
    again.note("x");
    Ok(())
}

fn main() {}
