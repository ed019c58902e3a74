//! The README's embedding snippet is the example the build compiles.

#[test]
fn readme_embedding_snippet_is_the_compiled_example() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("host-tests/examples/embed.rs")).unwrap();
    assert!(
        readme.contains(&format!("```rust\n{example}```")),
        "README.md's wasmtime snippet differs from host-tests/examples/embed.rs; paste the file again"
    );
}
