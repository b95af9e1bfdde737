//! Scenario foursquare_2010 (in progress).
