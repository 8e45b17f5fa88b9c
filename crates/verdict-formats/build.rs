//! Compiles Verdict's own `.proto` definition of ReSim's metrics schema
//! (proto/) with `protox`, a protobuf compiler in Rust, so building Verdict
//! needs no `protoc` on the machine; `prost-build` writes the Rust types.

fn main() {
    let protos = ["proto/resim/utils/proto/uuid.proto", "proto/resim/metrics/proto/metrics.proto"];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let descriptors = protox::compile(protos, ["proto"]).unwrap_or_else(|e| panic!("proto/: {e}"));
    prost_build::Config::new().compile_fds(descriptors).unwrap_or_else(|e| panic!("cannot generate the metrics types: {e}"));
}
