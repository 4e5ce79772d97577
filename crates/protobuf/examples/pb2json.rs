//! Prints the JSON form of Kubernetes protobuf bodies given as file paths.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for path in std::env::args().skip(1) {
        let body = std::fs::read(&path)?;
        let json = rkube_protobuf::decode_to_json(&body)?;
        println!("{path}: {}", serde_json::to_string(&json)?);
    }
    Ok(())
}
