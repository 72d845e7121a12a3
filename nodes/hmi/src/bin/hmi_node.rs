//! The HMI node (see the `edgefuse_hmi` crate).

fn main() -> anyhow::Result<()> {
    edgefuse_hmi::main()
}
