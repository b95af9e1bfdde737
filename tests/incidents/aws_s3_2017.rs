//! AWS S3, 2017-02-28: too many servers removed at once (`scenarios::aws_s3_2017`).
use harness::prelude::*;

/// As on the day: quorum gone, no write until the restart; S3 lost no data.
#[incident(postmortem = "aws-s3-2017-us-east-1", variant = before, budget = "10s",
    requires = [consul], tags = [heavy, consul], always = [integrity])]
async fn aws_s3_2017_before(lab: &mut Lab) -> Outcome {
    let report = scenarios::aws_s3_2017::run(lab).await?;
    assert_stable_snapshot!(report);
    Ok(())
}

/// With the fixes: writes served within the budget of the command, none lost.
#[incident(postmortem = "aws-s3-2017-us-east-1", variant = after, budget = "10s",
    requires = [consul], tags = [heavy, consul])]
async fn aws_s3_2017_after(lab: &mut Lab) -> Outcome {
    let report = scenarios::aws_s3_2017::run(lab).await?;
    assert_stable_snapshot!(report);
    Ok(())
}
