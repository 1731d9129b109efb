//! `--seed-file`: tenants and objects loaded at start, and `fixtures/seed.json`, the example.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use fake::faker::company::en::{Buzzword, CatchPhrase};
use fake::faker::filesystem::en::FileName;
use fake::faker::internet::en::{SafeEmail, Username};
use fake::faker::lorem::en::{Sentence, Word};
use fake::Fake;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/seed.json");

/// Makes `fixtures/seed.json`: the same document for the same seed, every time.
fn generate(seed: u64) -> Value {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let id = |prefix: &str, len: usize, alphabet: &[u8], rng: &mut rand::rngs::StdRng| {
        let body: String = (0..len)
            .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
            .collect();
        format!("{prefix}{body}")
    };
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const HEX: &[u8] = b"0123456789abcdef";
    const TTLS: [u32; 3] = [0, 3600, 86_400];
    let at = |days: i64, rng: &mut rand::rngs::StdRng| {
        let base = time::macros::datetime!(2024-03-01 09:00:00 UTC);
        let t = base
            + time::Duration::days(days)
            + time::Duration::seconds(rng.random_range(0..86_400));
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let mut projects = Vec::new();
    for p in 0..2 {
        let key: String = format!("{}-{}", Buzzword().fake_with_rng::<String, _>(&mut rng), p)
            .to_lowercase()
            .replace(' ', "-");
        let tokens: Vec<Value> = (0..3)
            .map(|t| {
                let mut token = json!({
                    "token": id("to", 22, BASE62, &mut rng),
                    "ttl": TTLS[t],
                });
                if t > 0 {
                    token["createdAt"] = json!(at(t as i64, &mut rng));
                }
                token
            })
            .collect();
        let videos: Vec<Value> = (0..3)
            .map(|_| {
                let tags: Vec<String> = (0..rng.random_range(1..4))
                    .map(|_| Word().fake_with_rng(&mut rng))
                    .collect();
                json!({
                    "videoId": id("vi", 22, BASE62, &mut rng),
                    "title": CatchPhrase().fake_with_rng::<String, _>(&mut rng),
                    "description": Sentence(6..14).fake_with_rng::<String, _>(&mut rng),
                    "tags": tags,
                    "metadata": [
                        {"key": "owner", "value": SafeEmail().fake_with_rng::<String, _>(&mut rng)},
                        {"key": "campaign", "value": Buzzword().fake_with_rng::<String, _>(&mut rng)},
                    ],
                    "public": rng.random_bool(0.7),
                    "createdAt": at(rng.random_range(0..30), &mut rng),
                })
            })
            .collect();
        projects.push(json!({ "apiKey": key, "uploadTokens": tokens, "videos": videos }));
    }
    let mut partners = Vec::new();
    for partner_id in [202_i64, 2_345_678] {
        let user: String = Username().fake_with_rng(&mut rng);
        let tokens: Vec<Value> = ["PENDING", "PENDING", "DELETED"]
            .iter()
            .map(|status| {
                json!({
                    "id": id("0_", 32, HEX, &mut rng),
                    "userId": user,
                    "status": status,
                    "fileName": FileName().fake_with_rng::<String, _>(&mut rng),
                    "fileSize": rng.random_range(1_000_000_i64..2_000_000_000),
                    "createdAt": at(rng.random_range(0..30), &mut rng),
                })
            })
            .collect();
        let entries: Vec<Value> = (0..3)
            .map(|_| {
                json!({
                    "id": id("0_", 8, HEX, &mut rng),
                    "name": CatchPhrase().fake_with_rng::<String, _>(&mut rng),
                    "description": Sentence(6..14).fake_with_rng::<String, _>(&mut rng),
                    "tags": (0..3).map(|_| Word().fake_with_rng::<String, _>(&mut rng)).collect::<Vec<_>>().join(","),
                    "mediaType": 1,
                    "userId": user,
                    "referenceId": id("ref-", 6, HEX, &mut rng),
                    "createdAt": at(rng.random_range(0..30), &mut rng),
                })
            })
            .collect();
        partners.push(json!({
            "id": partner_id,
            "adminSecret": id("", 32, HEX, &mut rng),
            "userSecret": id("", 32, HEX, &mut rng),
            "uploadTokens": tokens,
            "entries": entries,
        }));
    }
    json!({
        "apivideo": { "projects": projects },
        "kaltura": { "partners": partners },
    })
}

fn fixture_text(seed: u64) -> String {
    let mut text = serde_json::to_string_pretty(&generate(seed)).unwrap();
    text.push('\n');
    text
}

#[test]
fn seed_fixture_is_reproducible() {
    let expected = fixture_text(20240301);
    if std::env::var_os("VIDMOCK_UPDATE_FIXTURES").is_some() {
        std::fs::write(FIXTURE, &expected).unwrap();
    }
    let committed = std::fs::read_to_string(FIXTURE).unwrap_or_default();
    assert!(
        committed == expected,
        "fixtures/seed.json differs from what its generator makes; \
         run with VIDMOCK_UPDATE_FIXTURES=1 to rewrite it"
    );
}

fn vidmock(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vidmock"));
    command
        .args(["--port", "0"])
        .args(args)
        .env_remove("VIDMOCK_APIVIDEO_KEY")
        .env_remove("VIDMOCK_KALTURA_PARTNER")
        .env_remove("VIDMOCK_STATE_FILE")
        .env_remove("VIDMOCK_SEED_FILE");
    command
}

/// What the binary prints when it refuses the seed file at `path`; it must exit with code 2.
fn refused(path: &Path) -> String {
    let output = vidmock(&["--seed-file"]).arg(path).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// What the binary prints when it refuses a seed file holding `content`.
fn refused_content(name: &str, content: &str) -> String {
    let path = std::env::temp_dir().join(format!("vidmock-{name}-{}.json", std::process::id()));
    std::fs::write(&path, content).unwrap();
    let stderr = refused(&path);
    let _ = std::fs::remove_file(path);
    stderr
}

#[tokio::test]
async fn the_binary_serves_what_the_seed_file_holds() {
    let mut child = vidmock(&["--seed-file", FIXTURE])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..6 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        lines.push(line.trim_end().to_owned());
    }
    let base = lines[0]
        .strip_prefix("vidmock listening on ")
        .unwrap()
        .to_owned();
    let seed = generate(20240301);
    let project = &seed["apivideo"]["projects"][1];
    let key = project["apiKey"].as_str().unwrap();
    // The seeded keys are credentials in force, printed after the first line.
    assert!(
        lines.contains(&format!("apivideo api key: {key}")),
        "{lines:?}"
    );

    let client = reqwest::Client::new();
    let token = project["uploadTokens"][0]["token"].as_str().unwrap();
    let answer: Value = client
        .get(format!("{base}/upload-tokens/{token}"))
        .basic_auth(key, Some(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["token"], token);
    let video = &project["videos"][2];
    let answer: Value = client
        .get(format!(
            "{base}/videos/{}",
            video["videoId"].as_str().unwrap()
        ))
        .basic_auth(key, Some(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["title"], video["title"]);
    assert_eq!(answer["tags"], video["tags"]);
    assert_eq!(answer["metadata"], video["metadata"]);
    assert_eq!(answer["public"], video["public"]);

    let partner = &seed["kaltura"]["partners"][1];
    let ks: Value = client
        .post(format!(
            "{base}/api_v3/service/session/action/start?format=1"
        ))
        .form(&[
            ("secret", partner["adminSecret"].as_str().unwrap()),
            ("partnerId", &partner["id"].to_string()),
            ("type", "2"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ks = ks.as_str().expect("a KS for the seeded partner");
    let seeded = &partner["uploadTokens"][0];
    let answer: Value = client
        .post(format!(
            "{base}/api_v3/service/uploadtoken/action/get?format=1"
        ))
        .form(&[
            ("ks", ks),
            ("uploadTokenId", seeded["id"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["fileName"], seeded["fileName"]);
    // Kaltura serialises the size as the server stores it (a string in JSON).
    assert_eq!(
        answer["fileSize"].to_string().trim_matches('"'),
        seeded["fileSize"].to_string()
    );
    let entry = &partner["entries"][0];
    let answer: Value = client
        .post(format!("{base}/api_v3/service/media/action/get?format=1"))
        .form(&[("ks", ks), ("entryId", entry["id"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["name"], entry["name"]);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_seed_file_that_is_not_json_exits_with_code_2_and_says_where() {
    let stderr = refused_content("seed-not-json", "{\"apivideo\": {\"projects\": [}");

    assert!(
        stderr.starts_with("vidmock: --seed-file: seed file "),
        "{stderr}"
    );
    assert!(stderr.contains("line 1 column"), "{stderr}");
}

#[test]
fn a_seed_file_with_an_unknown_field_a_repeated_id_or_no_status_exits_with_code_2() {
    let unknown = refused_content(
        "seed-unknown",
        r#"{"apivideo": {"projects": [{"apiKey": "k", "tokens": []}]}}"#,
    );
    let twice = refused_content(
        "seed-twice",
        r#"{"kaltura": {"partners": [{"id": 5, "adminSecret": "a",
            "entries": [{"id": "0_abcdef12", "name": "a"}, {"id": "0_abcdef12", "name": "b"}]}]}}"#,
    );
    let no_status = refused_content(
        "seed-bad-status",
        r#"{"kaltura": {"partners": [{"id": 5, "adminSecret": "a",
            "uploadTokens": [{"status": "DONE"}]}]}}"#,
    );
    let missing = refused(&std::env::temp_dir().join("vidmock-no-such-seed.json"));

    assert!(unknown.contains("unknown field `tokens`"), "{unknown}");
    assert!(
        twice.contains("kaltura.partners[0].entries[1].id"),
        "{twice}"
    );
    assert!(
        no_status.contains("not a KalturaUploadTokenStatus"),
        "{no_status}"
    );
    assert!(no_status.contains("line 2 column"), "{no_status}");
    assert!(missing.contains("vidmock-no-such-seed.json"), "{missing}");
}

#[tokio::test]
async fn the_library_takes_the_same_format() {
    let text = std::fs::read_to_string(FIXTURE).unwrap();
    let server = vidmock::MockServer::builder()
        .seed_json(&text)
        .unwrap()
        .start()
        .await;
    let seed: Value = serde_json::from_str(&text).unwrap();
    let key = seed["apivideo"]["projects"][0]["apiKey"].as_str().unwrap();
    let project = server.apivideo().project(key).unwrap();
    assert_eq!(project.videos().len(), 3);
    // Tokens with a ttl that ended long ago are seeded too, but expired.
    assert_eq!(project.tokens().len(), 1);
    let partner = server.kaltura().for_partner(2_345_678).unwrap();
    assert_eq!(partner.upload_tokens().len(), 3);
    assert_eq!(partner.entries().len(), 3);
}

#[tokio::test]
async fn the_readme_seed_example_loads() {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("**Seed file.**")
        .nth(1)
        .expect("the README has a seed file section");
    let example = section
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the section has a JSON example");
    let server = vidmock::MockServer::builder()
        .seed_json(example)
        .unwrap()
        .start()
        .await;
    let team = server.apivideo().project("team-a").unwrap();
    assert_eq!(team.tokens().len(), 2);
    assert_eq!(team.videos()[0].title, "Launch keynote");
    let partner = server.kaltura().for_partner(202).unwrap();
    assert_eq!(partner.entries()[0].name, "Keynote");
}

#[tokio::test]
async fn a_seed_may_give_any_field_the_state_file_holds_and_the_admin_state_shows_it() {
    // Arrange: fields a seed once refused (they were the state file's alone).
    let seed = json!({
        "apivideo": {"projects": [{"apiKey": "team-a", "videos": [{
            "videoId": "vi4k0jvEUuaTdRAEjQ4Prklg", "title": "Keynote",
            "language": "fr", "panoramic": true, "mp4Support": false,
            "updatedAt": "2024-03-02T09:00:00Z"
        }]}]},
        "kaltura": {"partners": [{"id": 202, "adminSecret": "admin-202",
            "uploadTokens": [{"id": "0_0123456789abcdef0123456789abcdef", "autoFinalize": true,
                              "status": 0}],
            "entries": [{"id": "0_ab12cd34", "name": "Keynote", "partnerData": "from the seed",
                         "conversionProfileId": 7}]
        }]}
    });
    let server = vidmock::MockServer::builder()
        .seed_json(&seed.to_string())
        .unwrap()
        .start()
        .await;
    let client = reqwest::Client::new();

    // Act
    let video: Value = client
        .get(format!("{}/videos/vi4k0jvEUuaTdRAEjQ4Prklg", server.uri()))
        .basic_auth("team-a", Some(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let state: Value = client
        .get(format!("{}/__vidmock/state", server.uri()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // Assert: the API answers what was seeded, and the admin state holds every saved field.
    assert_eq!(video["language"], "fr", "{video}");
    assert_eq!(video["panoramic"], true, "{video}");
    assert_eq!(video["mp4Support"], false, "{video}");
    assert_eq!(video["updatedAt"], "2024-03-02T09:00:00+00:00", "{video}");
    let projects = state["apivideo"]["projects"].as_array().unwrap();
    let project = projects.iter().find(|p| p["apiKey"] == "team-a").unwrap();
    let shown = &project["videos"][0];
    assert_eq!(shown["language"], "fr", "{shown}");
    assert_eq!(shown["source"]["scheme"]["kind"], "fresh", "{shown}");
    assert_eq!(shown["complete"], false, "{shown}");
    let partners = state["kaltura"]["partners"].as_array().unwrap();
    let partner = partners.iter().find(|p| p["partnerId"] == 202).unwrap();
    assert_eq!(
        partner["uploadTokens"][0]["autoFinalize"], true,
        "{partner}"
    );
    assert_eq!(
        partner["uploadTokens"][0]["statusName"], "PENDING",
        "{partner}"
    );
    assert_eq!(
        partner["entries"][0]["partnerData"], "from the seed",
        "{partner}"
    );
    assert_eq!(partner["entries"][0]["conversionProfileId"], 7, "{partner}");
    assert_eq!(partner["entries"][0]["status"], "7", "{partner}");
}
