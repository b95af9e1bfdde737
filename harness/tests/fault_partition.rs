//! Partitions of every shape on a 5-node lab: the TCP connectivity matrix
//! measured between the containers matches the shape exactly, and is
//! complete again after heal, with no rule of ours left.

mod fault_support;

use fault_support::*;
use harness::fault::disconnect::Disconnect;
use harness::fault::partition::{Grudge, Partition};
use harness::runner;
use harness::Outcome;

const COMPLETE: [&str; 5] = ["11111", "11111", "11111", "11111", "11111"];

#[test]
fn every_partition_shape_matches_the_measured_matrix_and_heals() {
    runner::run(spec("fault_partition_shapes", &[]), |lab| {
        Box::pin(async move {
            let nodes = nodes(lab, 5).await?;
            let before = matrix(lab, &nodes).await?;
            require(
                lab,
                "partition.before",
                before == COMPLETE,
                format!("{before:?}"),
            );
            let cases: Vec<(&str, Partition, [&str; 5])> = vec![
                (
                    "isolate",
                    Partition::isolate(&nodes[2]),
                    ["11.11", "11.11", "..1..", "11.11", "11.11"],
                ),
                (
                    "halves",
                    Partition::halves(),
                    ["11...", "11...", "..111", "..111", "..111"],
                ),
                (
                    "majorities-ring",
                    Partition::majorities_ring(),
                    ["11..1", "111..", ".111.", "..111", "1..11"],
                ),
                (
                    "bridge",
                    Partition::bridge(),
                    ["111..", "111..", "11111", "..111", "..111"],
                ),
                (
                    "one-way",
                    Partition::one_way(&nodes[0], &nodes[1]),
                    ["1.111", "11111", "11111", "11111", "11111"],
                ),
                (
                    "grudge",
                    // n1 and n5 drop each other; n4 drops flows n3 opens.
                    Partition::grudge(
                        Grudge::new()
                            .drop("n5", "n1")
                            .drop("n1", "n5")
                            .drop("n4", "n3"),
                    ),
                    ["1111.", "11111", "111.1", "11111", ".1111"],
                ),
            ];
            for (name, fault, expected) in cases {
                let guard = lab.inject(fault).await?;
                let got = matrix(lab, &nodes).await?;
                require(
                    lab,
                    &format!("partition.{name}.shape"),
                    got == expected,
                    format!("measured {got:?}, expected {expected:?}"),
                );
                guard.heal().await?;
                let after = matrix(lab, &nodes).await?;
                require(
                    lab,
                    &format!("partition.{name}.healed"),
                    after == COMPLETE,
                    format!("{after:?}"),
                );
            }
            // Heal removed exactly our chains: no INC- rule anywhere.
            for n in &nodes {
                let out = harness::fault::sidecar::run(lab, n, "iptables -w -S").await?;
                require(
                    lab,
                    &format!("partition.clean.{}", n.name),
                    !out.stdout.contains("INC-"),
                    out.stdout.clone(),
                );
            }
            // Disconnect cuts the node off both ways; heal brings it back.
            let known = ips(lab, &nodes).await?;
            let guard = lab.inject(Disconnect::new(&nodes[4])).await?;
            let got = matrix_to(lab, &nodes, &known).await?;
            let expected = ["1111.", "1111.", "1111.", "1111.", "....1"];
            require(
                lab,
                "disconnect.shape",
                got == expected,
                format!("measured {got:?}"),
            );
            guard.heal().await?;
            let after = matrix(lab, &nodes).await?;
            require(
                lab,
                "disconnect.healed",
                after == COMPLETE,
                format!("{after:?}"),
            );
            Outcome::Ok(())
        })
    });
}
