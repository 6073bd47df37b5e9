//! One file per workload.

pub mod crash;
pub mod direct;
pub mod group;
pub mod idle;
pub mod plot;
pub mod reconnect;
pub mod room;
