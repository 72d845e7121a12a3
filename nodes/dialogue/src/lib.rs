//! edgefuse-dialogue: the HMI's driver dialogue and maintenance report, as a library (the
//! `edgefuse_hmi` node is its ROS adapter).
//!
//! Small models invent things, so here the LLM only phrases: the facts come from the fused
//! world model ([`facts::FactSheet`], built from the tracker's confirmed tracks, the ego state
//! and the health findings), every number, object class and side an answer states is checked
//! against the fact sheet ([`checker`]), and an answer that fails is replaced by the best of N
//! batched candidates that passes, else by a deterministic template answer. Each answer says
//! which it is.
//!
//! It must not depend on ROS types or do I/O of its own beyond the model file the engine
//! reads; time comes in with the world state.

pub mod checker;
pub mod dialogue;
pub mod facts;
pub mod intent;
pub mod report;

pub use checker::{check, CheckReport};
pub use dialogue::{Answer, AnswerSource, Responder, ResponderOptions};
pub use facts::{FactSheet, ObjectFact, Side};
pub use intent::Intent;
