//! The timeline picture (SVG) of one incident (in progress).
