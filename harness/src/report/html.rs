//! The HTML index of every incident (in progress).
