//! Compiles the .proto files with protox (pure Rust: no system protoc needed)
//! and generates prost messages plus tonic clients and servers.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/notifier.proto",
        "proto/kms.proto",
        "proto/auth.proto",
        "proto/search.proto",
        "proto/ipfilter.proto",
        "proto/grpc_controller.proto",
        "proto/grpc_broker.proto",
        "proto/grpc_stdio.proto",
        "proto/eventbus.proto",
        "proto/admin.proto",
        "proto/notifier_batch.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    // Served by gRPC server reflection, so tools need no .proto files.
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("plexus_descriptors.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
