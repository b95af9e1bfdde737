//! TODO(checkers helper)
