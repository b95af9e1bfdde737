//! `LinkToxic`: a Toxiproxy toxic on one proxied link (latency, bandwidth,
//! black hole, reset, slow close, data limit, slicer), per direction.
//!
//! The link must already run through a proxy (the toxiproxy fixture's
//! `route`); the fault adds its toxic (or the same toxic on both streams)
//! and heal removes exactly those.

use super::Fault;
use crate::lab::LabCtx;
use crate::toxiproxy::{Toxic, ToxiproxyClient};
use anyhow::Result;

/// A toxic on a proxied link, in force between inject and heal.
pub struct LinkToxic {
    client: ToxiproxyClient,
    proxy: String,
    toxics: Vec<Toxic>,
    /// How many of `toxics` are in force (added in order, healed in reverse).
    added: usize,
}

impl LinkToxic {
    /// `toxic` on `proxy` of the Toxiproxy server `client` talks to.
    pub fn new(client: ToxiproxyClient, proxy: impl Into<String>, toxic: Toxic) -> Self {
        LinkToxic {
            client,
            proxy: proxy.into(),
            toxics: vec![toxic],
            added: 0,
        }
    }

    /// `toxic` on both streams of `proxy`: upstream (client to server) and
    /// downstream, e.g. a black hole that neither requests nor replies cross.
    pub fn both_ways(client: ToxiproxyClient, proxy: impl Into<String>, toxic: Toxic) -> Self {
        let mut fault = LinkToxic::new(client, proxy, toxic.clone().upstream());
        fault.toxics.push(toxic.downstream());
        fault
    }

    /// The toxics, in the order they are added.
    pub fn toxics(&self) -> &[Toxic] {
        &self.toxics
    }
}

#[async_trait::async_trait]
impl Fault for LinkToxic {
    fn kind(&self) -> &'static str {
        "toxic"
    }

    fn describe(&self) -> String {
        let toxics: Vec<String> = self.toxics.iter().map(|t| t.to_string()).collect();
        format!("{} on link {}", toxics.join(" and "), self.proxy)
    }

    async fn inject(&mut self, _lab: &LabCtx) -> Result<()> {
        // add_toxic verifies with a GET that the server holds it.
        while self.added < self.toxics.len() {
            self.client
                .add_toxic(&self.proxy, &self.toxics[self.added])
                .await?;
            self.added += 1;
        }
        Ok(())
    }

    async fn heal(&mut self, _lab: &LabCtx) -> Result<()> {
        while self.added > 0 {
            let toxic = &self.toxics[self.added - 1];
            self.client.remove_toxic(&self.proxy, &toxic.name()).await?;
            self.added -= 1;
        }
        Ok(())
    }
}
