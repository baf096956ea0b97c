//! Metrics: each defined once (`metric`: what one is; `names`: the list of every metric), the
//! sample metrics (KID, FID, improved precision and recall) on Inception-v3 features (the
//! standard TensorFlow FID network), and the cached reference features.

pub mod declared;
pub mod features;
pub mod fid;
pub mod folders;
pub mod kid;
pub mod metric;
pub mod names;
pub mod precision_recall;
pub mod reference;

pub use features::Inception;
