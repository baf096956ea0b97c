//! Sample quality: Inception-v3 features (the standard TensorFlow FID network), KID and FID.

pub mod features;
pub mod fid;
pub mod kid;
pub mod names;
pub mod precision_recall;
pub mod reference;

pub use features::Inception;
