//! Offline image builds (see `incident images build`).
