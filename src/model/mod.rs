//! The R original's DDIM: schedules, sinusoidal embedding, U-Net, normaliser, denoising and sampling.

pub mod diffusion;
pub mod embedding;
pub mod foreach;
pub mod from_run;
pub mod normalizer;
pub mod precision;
pub mod schedule;
pub mod summary;
pub mod unet;

pub use diffusion::DiffusionModel;
pub use unet::NetConfig;
