use harness::prelude::*;

// Every problem is reported in one compile, not one at a time.
#[incident(postmortem = "", variant = after, budget = "9x", tags = [heavy, heavy])]
fn several(_lab: &mut Lab, extra: u8) {
    let _ = extra;
}

fn main() {}
