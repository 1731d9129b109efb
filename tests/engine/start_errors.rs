//! Why a server cannot be built or started, as data a caller can match on.

use vidmock::{Document, Error, MockServer};

fn temp_file(name: &str, content: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "vidmock-start-errors-{}-{name}.json",
        std::process::id()
    ));
    std::fs::write(&path, content).unwrap();
    path
}

#[test]
fn a_seed_naming_an_id_twice_points_at_the_field() {
    let seed = r#"{"apivideo": {"projects": [{"apiKey": "a"}, {"apiKey": "a"}]}}"#;

    let error = MockServer::builder().seed_json(seed).unwrap_err();

    match &error {
        Error::Invalid {
            document, field, ..
        } => {
            assert_eq!(*document, Document::Seed);
            assert_eq!(field.as_deref(), Some("apivideo.projects[1].apiKey"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        error.to_string(),
        r#"seed: apivideo.projects[1].apiKey "a" appears twice"#
    );
}

#[test]
fn a_state_file_that_is_not_json_gives_its_path_line_and_column() {
    let path = temp_file(
        "broken-state",
        "{\n  \"format\": \"vidmock-state\",\n  oops\n}",
    );

    let error = MockServer::builder().state_file(&path).unwrap_err();

    match &error {
        Error::Json {
            document,
            line,
            column,
            ..
        } => {
            assert_eq!(*document, Document::StateFile(path.clone()));
            assert_eq!((*line, *column), (3, 3));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        error.to_string().starts_with(&format!(
            "state file {}: key must be a string",
            path.display()
        )),
        "{error}"
    );
    assert!(error.to_string().ends_with("at line 3 column 3"), "{error}");
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_seed_file_that_cannot_be_read_keeps_the_operating_systems_error() {
    let path = std::env::temp_dir().join("vidmock-start-errors-no-such-seed.json");

    let error = MockServer::builder().seed_file(&path).unwrap_err();

    match &error {
        Error::Read { document, source } => {
            assert_eq!(*document, Document::SeedFile(path.clone()));
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
    assert!(std::error::Error::source(&error).is_some());
}

#[tokio::test]
async fn a_taken_port_is_a_bind_error_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();

    let error = MockServer::builder()
        .bind(address)
        .try_start()
        .await
        .unwrap_err();

    match &error {
        Error::Bind {
            address: Some(asked),
            source,
        } => {
            assert_eq!(*asked, address);
            assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
        }
        other => panic!("{other:?}"),
    }
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn a_key_that_is_not_pem_is_a_tls_error_not_an_io_error() {
    let certificate = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();

    let error = MockServer::builder()
        .tls_pem(certificate.cert.pem(), "not a key")
        .try_start()
        .await
        .unwrap_err();

    match &error {
        Error::Tls { message } => assert!(message.starts_with("the private key: "), "{message}"),
        other => panic!("{other:?}"),
    }
}
