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
        "proto/notifier_batch.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
