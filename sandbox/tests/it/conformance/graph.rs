//! Graph (to come).
