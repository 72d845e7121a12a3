//! The lidar ingest node (see the `edgefuse_ingest` crate).

fn main() -> anyhow::Result<()> {
    edgefuse_ingest::main_for(edgefuse_ingest::SensorKind::Lidar)
}
