//! The host tests, as one test binary: every binary here links wasmtime
//! (about 110 MB each in a debug build) and compiles the component once,
//! so one binary keeps both the disk a fresh `make test` needs and its
//! time down. Each module is one concern.

#[macro_use]
mod common;

mod component_api;
mod component_differential;
mod component_interop_recovery;
mod conformance;
mod expiry;
mod forged_index;
mod frozen_holder;
mod keyvalue_cas;
mod keyvalue_durability;
mod keyvalue_limits;
mod keyvalue_listing;
mod many_instances;
mod readme;
mod soak;
