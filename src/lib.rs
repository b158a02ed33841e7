//! wisp: a small async runtime you can hold in your head.
#![allow(dead_code)] // removed once the executor uses every part

mod slab;
