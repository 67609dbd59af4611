//! Every example config in conf/ parses as a network configuration and is
//! run by at least one end-to-end test.

use std::path::Path;

#[test]
fn every_example_config_is_valid_and_exercised() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut tests = String::new();
    for entry in std::fs::read_dir(root.join("tests")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "rs")
            && p.file_name().is_some_and(|n| n != "conf_files.rs")
        {
            tests.push_str(&std::fs::read_to_string(&p).unwrap());
        }
    }
    let mut seen = 0;
    for entry in std::fs::read_dir(root.join("conf")).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.ends_with(".conf") || name.ends_with(".conflist")) {
            continue;
        }
        seen += 1;
        let bytes = std::fs::read(&p).unwrap();
        let list = cni::ConfList::from_slice(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        list.version().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            tests.contains(&format!("\"{name}\"")),
            "conf/{name} is not used by any test in tests/"
        );
    }
    assert!(seen > 0, "conf/ holds no configs");
}
