//! Builds the documents once, prints how long that took, and writes them under a directory.

use std::time::Instant;

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "openapi-dump".into());
    let start = Instant::now();
    let v2 = rkube_openapi::v2_document();
    let elapsed = start.elapsed();
    println!(
        "built v2 + {} v3 documents in {elapsed:?}",
        rkube_openapi::v3_paths().count()
    );
    println!("v2: {} bytes", v2.len());
    std::fs::create_dir_all(format!("{dir}/v3"))?;
    std::fs::write(format!("{dir}/v2.json"), v2)?;
    let start = Instant::now();
    let pb = rkube_openapi::v2_document_protobuf();
    println!("v2 protobuf: {} bytes in {:?}", pb.len(), start.elapsed());
    std::fs::write(format!("{dir}/v2.pb"), pb)?;
    std::fs::write(format!("{dir}/v3.json"), rkube_openapi::v3_index())?;
    for path in rkube_openapi::v3_paths() {
        if let Some(body) = rkube_openapi::v3_group_version(path) {
            println!("{path}: {} bytes", body.len());
            std::fs::write(format!("{dir}/v3/{}.json", path.replace('/', "__")), body)?;
        }
    }
    Ok(())
}
