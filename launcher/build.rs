use cxx_qt_build::{CxxQtBuilder, QmlFile, QmlModule};

fn main() {
    // Every view in qml/ (tests live in qml/tests/ and are not part of the module).
    let mut views: Vec<String> = std::fs::read_dir("qml")
        .expect("launcher/qml links to the repository's qml/ folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "qml"))
        .map(|p| p.display().to_string())
        .collect();
    views.sort();
    let files: Vec<QmlFile> = views
        .iter()
        .map(|p| QmlFile::from(p.as_str()).singleton(p.ends_with("/Theme.qml")))
        .collect();
    println!("cargo::rerun-if-changed=qml");
    let builder = CxxQtBuilder::new_qml_module(QmlModule::new("RA").qml_files(files))
        .qt_module("Quick")
        .qt_module("QuickTest")
        .files(["src/bridge.rs"])
        .cpp_file("cpp/ra_qt.cpp");
    // SAFETY: only adds an include folder for our own header.
    unsafe { builder.cc_builder(|cc| {
        cc.include("cpp");
    }) }
    .build();
}
