//! The fusion node over DDS (see `edgefuse_fusion_node::live`).

fn main() -> anyhow::Result<()> {
    edgefuse_fusion_node::live::main_dds()
}
