pub mod links;
pub mod normalize;
pub mod record;
pub mod save;
pub mod shard;
