//! `LinkToxic`: a Toxiproxy toxic on one proxied link (latency, bandwidth,
//! black hole, reset, slow close, data limit, slicer), per direction.
//!
//! The link must already run through a proxy (the toxiproxy fixture's
//! `route`); the fault adds one toxic and heal removes exactly that toxic.

use super::Fault;
use crate::lab::LabCtx;
use crate::toxiproxy::{Toxic, Toxiproxy};
use anyhow::Result;

/// A toxic on a proxied link, in force between inject and heal.
pub struct LinkToxic {
    client: Toxiproxy,
    proxy: String,
    toxic: Toxic,
    added: bool,
}

impl LinkToxic {
    /// `toxic` on `proxy` of the Toxiproxy server `client` talks to.
    pub fn new(client: Toxiproxy, proxy: impl Into<String>, toxic: Toxic) -> Self {
        LinkToxic {
            client,
            proxy: proxy.into(),
            toxic,
            added: false,
        }
    }

    /// The toxic.
    pub fn toxic(&self) -> &Toxic {
        &self.toxic
    }
}

#[async_trait::async_trait]
impl Fault for LinkToxic {
    fn kind(&self) -> &'static str {
        "toxic"
    }

    fn describe(&self) -> String {
        format!("{} on link {}", self.toxic, self.proxy)
    }

    async fn inject(&mut self, _lab: &LabCtx) -> Result<()> {
        // add_toxic verifies with a GET that the server holds it.
        self.client.add_toxic(&self.proxy, &self.toxic).await?;
        self.added = true;
        Ok(())
    }

    async fn heal(&mut self, _lab: &LabCtx) -> Result<()> {
        if !self.added {
            return Ok(());
        }
        self.client
            .remove_toxic(&self.proxy, &self.toxic.name())
            .await?;
        self.added = false;
        Ok(())
    }
}
