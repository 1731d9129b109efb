//! `--state-file`: the binary keeps its state across restarts, and across SIGKILL at any moment.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::binary::temp_dir;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A running binary, killed (SIGKILL) when dropped.
struct Running {
    child: Child,
    base: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(state: &Path, extra: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vidmock"))
        .args(["--port", "0", "--state-file"])
        .arg(state)
        .args(extra)
        .env_remove("VIDMOCK_APIVIDEO_KEY")
        .env_remove("VIDMOCK_KALTURA_PARTNER")
        .env_remove("VIDMOCK_SEED_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("a first line");
    let Some(base) = line.trim_end().strip_prefix("vidmock listening on ") else {
        let mut stderr = String::new();
        let _ = std::io::Read::read_to_string(
            &mut child.stderr.take().expect("stderr is piped"),
            &mut stderr,
        );
        panic!("the binary did not start: {line:?} {stderr}");
    };
    let base = base.to_owned();
    // Keep reading stdout and stderr (a line per request) so the binary never blocks on a
    // full pipe.
    std::thread::spawn(move || for _ in stdout.lines() {});
    if let Some(stderr) = child.stderr.take() {
        std::thread::spawn(move || for _ in BufReader::new(stderr).lines() {});
    }
    Running { child, base }
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn state(client: &reqwest::Client, base: &str) -> Value {
    client
        .get(format!("{base}/__vidmock/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// What the client saw acknowledged.
#[derive(Default, Debug)]
struct Acknowledged {
    /// api.video upload tokens whose `POST /upload-tokens` answered 200.
    tokens: Vec<String>,
    /// api.video videos whose last chunk was answered 201 → sha256 of the file.
    videos: BTreeMap<String, String>,
    /// Kaltura upload tokens whose `uploadToken.add` answered.
    kaltura_tokens: Vec<String>,
    /// Kaltura upload tokens whose final chunk was answered FULL_UPLOAD → sha256.
    kaltura_uploads: BTreeMap<String, String>,
}

/// Creates tokens and uploads, in a loop, until the server goes away.
async fn drive(base: String, ack: Arc<Mutex<Acknowledged>>, round: u64) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let Ok(ks) = kaltura_session(&client, &base).await else {
        return;
    };
    for n in 0.. {
        let seed = round * 1000 + n;
        if drive_once(&client, &base, &ks, seed, &ack).await.is_err() {
            return;
        }
    }
}

type Step<T> = Result<T, ()>;

async fn kaltura_session(client: &reqwest::Client, base: &str) -> Step<String> {
    let answer: Value = client
        .post(format!(
            "{base}/api_v3/service/session/action/start?format=1"
        ))
        .form(&[
            ("secret", "vidmock-admin-secret"),
            ("partnerId", "101"),
            ("type", "2"),
        ])
        .send()
        .await
        .map_err(drop)?
        .json()
        .await
        .map_err(drop)?;
    answer.as_str().map(str::to_owned).ok_or(())
}

async fn drive_once(
    client: &reqwest::Client,
    base: &str,
    ks: &str,
    seed: u64,
    ack: &Mutex<Acknowledged>,
) -> Step<()> {
    // An api.video token.
    let answer = client
        .post(format!("{base}/upload-tokens"))
        .basic_auth("vidmock-api-key", Some(""))
        .json(&serde_json::json!({}))
        .send()
        .await
        .map_err(drop)?;
    if answer.status() != 200 {
        return Err(());
    }
    let token: Value = answer.json().await.map_err(drop)?;
    let token = token["token"].as_str().ok_or(())?.to_owned();
    ack.lock().unwrap().tokens.push(token.clone());

    // An api.video upload in two parts (the first at the 5 MiB minimum).
    let first: Vec<u8> = (0..5 * 1024 * 1024)
        .map(|i| (i as u64 ^ seed) as u8)
        .collect();
    let second: Vec<u8> = format!("end of file {seed}").into_bytes();
    let part = |bytes: Vec<u8>, video: Option<&str>| {
        let mut form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(format!("clip-{seed}.mp4")),
        );
        if let Some(video) = video {
            form = form.text("videoId", video.to_owned());
        }
        form
    };
    let answer: Value = client
        .post(format!("{base}/upload?token={token}"))
        .header("Content-Range", "part 1/2")
        .multipart(part(first.clone(), None))
        .send()
        .await
        .map_err(drop)?
        .json()
        .await
        .map_err(drop)?;
    let video = answer["videoId"].as_str().ok_or(())?.to_owned();
    let answer = client
        .post(format!("{base}/upload?token={token}"))
        .header("Content-Range", "part 2/2")
        .multipart(part(second.clone(), Some(&video)))
        .send()
        .await
        .map_err(drop)?;
    if answer.status() != 201 {
        return Err(());
    }
    let mut whole = first;
    whole.extend_from_slice(&second);
    ack.lock().unwrap().videos.insert(video, sha256(&whole));

    // A Kaltura token, filled in two chunks.
    let api = format!("{base}/api_v3/service/uploadtoken/action");
    let added: Value = client
        .post(format!("{api}/add?format=1"))
        .form(&[("ks", ks), ("uploadToken:fileName", "talk.mp4")])
        .send()
        .await
        .map_err(drop)?
        .json()
        .await
        .map_err(drop)?;
    let id = added["id"].as_str().ok_or(())?.to_owned();
    ack.lock().unwrap().kaltura_tokens.push(id.clone());
    let chunks = [
        format!("kaltura chunk one {seed} ")
            .repeat(2000)
            .into_bytes(),
        format!("kaltura chunk two {seed}").into_bytes(),
    ];
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i == chunks.len() - 1;
        let form = reqwest::multipart::Form::new()
            .text("ks", ks.to_owned())
            .text("format", "1")
            .text("uploadTokenId", id.clone())
            .text("resume", if i == 0 { "false" } else { "true" })
            .text("resumeAt", "-1")
            .text("finalChunk", if last { "true" } else { "false" })
            .part(
                "fileData",
                reqwest::multipart::Part::bytes(chunk.clone()).file_name("talk.mp4"),
            );
        let answer: Value = client
            .post(format!("{api}/upload"))
            .multipart(form)
            .send()
            .await
            .map_err(drop)?
            .json()
            .await
            .map_err(drop)?;
        if last && answer["status"] != 2 {
            return Err(());
        }
    }
    ack.lock()
        .unwrap()
        .kaltura_uploads
        .insert(id, sha256(&chunks.concat()));
    Ok(())
}

/// Everything acknowledged is in the restarted server's state.
fn assert_nothing_lost(state: &Value, ack: &Acknowledged, cycle: usize) {
    let project = &state["apivideo"]["projects"][0];
    let tokens: Vec<&str> = project["uploadTokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["token"].as_str())
        .collect();
    for token in &ack.tokens {
        assert!(
            tokens.contains(&token.as_str()),
            "cycle {cycle}: api.video token {token} was acknowledged but is lost"
        );
    }
    let videos: BTreeMap<&str, &Value> = project["videos"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| Some((v["videoId"].as_str()?, v)))
        .collect();
    for (id, sha) in &ack.videos {
        let video = videos
            .get(id.as_str())
            .unwrap_or_else(|| panic!("cycle {cycle}: completed video {id} is lost"));
        assert_eq!(video["complete"], true, "cycle {cycle}: video {id}");
        assert_eq!(video["sha256"], sha.as_str(), "cycle {cycle}: video {id}");
    }
    let partner = &state["kaltura"]["partners"][0];
    let kaltura: BTreeMap<&str, &Value> = partner["uploadTokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| Some((t["id"].as_str()?, t)))
        .collect();
    for id in &ack.kaltura_tokens {
        assert!(
            kaltura.contains_key(id.as_str()),
            "cycle {cycle}: Kaltura token {id} was acknowledged but is lost"
        );
    }
    for (id, sha) in &ack.kaltura_uploads {
        let token = kaltura[id.as_str()];
        assert_eq!(token["statusName"], "FULL_UPLOAD", "cycle {cycle}: {id}");
        assert_eq!(token["sha256"], sha.as_str(), "cycle {cycle}: {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_token_or_completed_upload_is_lost_to_sigkill() {
    let dir = temp_dir("crash");
    let path = dir.join("state.json");
    let ack = Arc::new(Mutex::new(Acknowledged::default()));
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut cycles = 0;
    // Varied moments: early (during the first requests), mid-upload, and later.
    let delays = [
        40u64, 450, 90, 700, 160, 300, 60, 520, 230, 380, 120, 610, 75, 260,
    ];
    for (cycle, delay) in delays.iter().enumerate() {
        if started.elapsed() > Duration::from_secs(90) {
            break;
        }
        let mut running = start(&path, &[]);
        // Every restart loads the file, and nothing acknowledged before is lost.
        let restored = state(&client, &running.base).await;
        assert_nothing_lost(&restored, &ack.lock().unwrap(), cycle);

        let driver = tokio::spawn(drive(running.base.clone(), ack.clone(), cycle as u64));
        tokio::time::sleep(Duration::from_millis(*delay)).await;
        running.child.kill().unwrap();
        running.child.wait().unwrap();
        driver.abort();
        let _ = driver.await;
        cycles += 1;
    }
    let running = start(&path, &[]);
    let restored = state(&client, &running.base).await;
    let ack = ack.lock().unwrap();
    assert_nothing_lost(&restored, &ack, cycles);
    assert!(cycles >= 10, "only {cycles} cycles ran");
    assert!(
        ack.tokens.len() >= cycles && !ack.videos.is_empty() && !ack.kaltura_uploads.is_empty(),
        "the driver did too little to test anything: {ack:?}"
    );
    drop(running);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn tokens_videos_and_the_clock_come_back_after_a_clean_restart() {
    let dir = temp_dir("clean");
    let path = dir.join("state.json");
    let client = reqwest::Client::new();
    let first = start(&path, &["--keep-uploads"]);
    let token: Value = client
        .post(format!("{}/upload-tokens", first.base))
        .basic_auth("vidmock-api-key", Some(""))
        .json(&serde_json::json!({"ttl": 7200}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"a tiny video".to_vec()).file_name("tiny.mp4"),
    );
    let video: Value = client
        .post(format!("{}/upload?token={token}", first.base))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    client
        .post(format!("{}/__vidmock/clock/advance", first.base))
        .json(&serde_json::json!({"seconds": 600}))
        .send()
        .await
        .unwrap();
    drop(first);

    let second = start(&path, &["--keep-uploads"]);
    let listed: Value = client
        .get(format!("{}/upload-tokens/{token}", second.base))
        .basic_auth("vidmock-api-key", Some(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["ttl"], 7200);
    let clock: Value = client
        .get(format!("{}/__vidmock/clock", second.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(clock["offsetSeconds"].as_f64().unwrap() >= 600.0);
    let id = video["videoId"].as_str().unwrap();
    let status: Value = client
        .get(format!("{}/videos/{id}", second.base))
        .basic_auth("vidmock-api-key", Some(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["title"], "tiny.mp4");
    let sha = sha256(b"a tiny video");
    let restored = state(&client, &second.base).await;
    assert_eq!(
        restored["apivideo"]["projects"][0]["videos"][0]["sha256"],
        sha
    );
    // With --keep-uploads the bytes are kept beside the state file.
    assert_eq!(
        std::fs::read(dir.join("state.json.d").join(&sha)).unwrap(),
        b"a tiny video"
    );
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}

/// POSTs `body` as JSON to `url`: the status and the JSON answer.
async fn post_json(client: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let answer = client.post(url).json(&body).send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap())
}

#[tokio::test]
async fn refresh_tokens_come_back_with_their_expiry_and_older_files_without_one_still_load() {
    let dir = temp_dir("refresh");
    let path = dir.join("state.json");
    let client = reqwest::Client::new();
    let first = start(&path, &[]);
    let (_, grant) = post_json(
        &client,
        format!("{}/auth/api-key", first.base),
        serde_json::json!({ "apiKey": "vidmock-api-key" }),
    )
    .await;
    let saved_token = grant["refresh_token"].as_str().unwrap().to_owned();
    drop(first);
    // A start writes everything, the log's changes included, into the state file itself.
    drop(start(&path, &[]));
    let mut document: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let saved = document["apivideo"]["refreshTokens"][&saved_token].clone();
    // What a file written before refresh tokens expired holds: the API key alone.
    document["apivideo"]["refreshTokens"][&saved_token] = Value::from("vidmock-api-key");
    std::fs::write(&path, serde_json::to_vec(&document).unwrap()).unwrap();

    let second = start(&path, &[]);
    let refresh = |token: &Value| {
        post_json(
            &client,
            format!("{}/auth/refresh", second.base),
            serde_json::json!({ "refreshToken": token }),
        )
    };
    let (status, renewed) = refresh(&grant["refresh_token"]).await;
    post_json(
        &client,
        format!("{}/__vidmock/clock/advance", second.base),
        serde_json::json!({ "seconds": 30 * 24 * 60 * 60 }),
    )
    .await;
    let (expired, _) = refresh(&renewed["refresh_token"]).await;

    assert_eq!(saved["apiKey"], "vidmock-api-key", "{saved}");
    assert!(saved["expiresAt"].is_string(), "{saved}");
    assert_eq!(status, 200);
    assert_eq!(expired, 400);
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts the binary on the state file at `path`, expecting it to refuse: the exit code and
/// what it printed on stderr.
fn refused(path: &Path) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_vidmock"))
        .args(["--port", "0", "--state-file"])
        .arg(path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

#[test]
fn a_state_file_that_is_not_one_exits_with_code_2() {
    let dir = temp_dir("bad-state");
    let path = dir.join("state.json");
    std::fs::write(&path, "{\"format\": \"something else\"").unwrap();
    let (code, stderr) = refused(&path);
    assert_eq!(code, Some(2));
    assert!(
        stderr.starts_with("vidmock: --state-file: state file "),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `fixtures/state-v1.json`, written by a vidmock that saved layout version 1
/// (`fixtures/make-state-v1.py` says how).
const STATE_V1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/state-v1.json");

#[tokio::test]
async fn a_state_file_of_layout_version_1_loads_with_every_moved_field() {
    // Arrange: a copy of the version 1 file, and what it holds, read from it.
    let dir = temp_dir("state-v1");
    let path = dir.join("state.json");
    std::fs::copy(STATE_V1, &path).unwrap();
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(STATE_V1).unwrap()).unwrap();
    assert_eq!(saved["version"], 1);
    let project = &saved["apivideo"]["projects"][0];
    let key = project["apiKey"].as_str().unwrap();
    let uploaded = &project["videos"][0];
    let tokens = saved["kaltura"]["partners"][0]["uploadTokens"]
        .as_array()
        .unwrap();
    let consumed = &tokens[0];
    let waiting = &tokens[1];
    let partial = &tokens[2];
    let client = reqwest::Client::new();

    // Act
    let running = start(&path, &["--apivideo-key", key]);
    let state = state(&client, &running.base).await;
    let kaltura = &state["kaltura"]["partners"][0]["uploadTokens"];
    let video = &state["apivideo"]["projects"][0]["videos"][0];

    // Assert: the finished upload's size and sha256, the consumed token's chunks and digest,
    // the waiting token's attachment, and the part-way autoFinalize token started over.
    assert_eq!(video["videoId"], uploaded["videoId"]);
    assert_eq!(video["complete"], true, "{video}");
    assert_eq!(video["sha256"], sha256(b"a tiny video"), "{video}");
    assert_eq!(video["sha256"], uploaded["source"]["sha256"]);
    assert_eq!(video["source"]["digest"]["size"], 12, "{video}");
    let metadata_only = &state["apivideo"]["projects"][0]["videos"][1];
    assert_eq!(metadata_only["metadata"], project["videos"][1]["metadata"]);
    assert_eq!(kaltura[0]["id"], consumed["id"]);
    assert_eq!(kaltura[0]["statusName"], "CLOSED", "{}", kaltura[0]);
    assert_eq!(kaltura[0]["sha256"], consumed["sha256"], "{}", kaltura[0]);
    assert_eq!(
        kaltura[0]["receivedChunks"], consumed["chunks"],
        "{}",
        kaltura[0]
    );
    assert_eq!(kaltura[0]["chunks"], 2, "{}", kaltura[0]);
    assert_eq!(kaltura[1]["attachedObjectType"], "entry", "{}", kaltura[1]);
    assert_eq!(kaltura[1]["attachedObjectId"], waiting["attachedObjectId"]);
    assert_eq!(partial["status"], 1, "{partial}");
    assert!(partial["autoReceived"].as_u64().unwrap() > 0, "{partial}");
    assert_eq!(kaltura[2]["statusName"], "PENDING", "{}", kaltura[2]);
    assert_eq!(kaltura[2]["auto"]["received"], 0, "{}", kaltura[2]);
    drop(running);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_state_file_naming_kept_bytes_by_anything_but_a_sha256_exits_with_code_2() {
    // Arrange: the version 1 file, its finished upload's sha256 made a path.
    let dir = temp_dir("state-bad-sha");
    let path = dir.join("state.json");
    let mut document: Value =
        serde_json::from_str(&std::fs::read_to_string(STATE_V1).unwrap()).unwrap();
    document["apivideo"]["projects"][0]["videos"][0]["source"]["sha256"] =
        Value::from("../../etc/passwd");
    std::fs::write(&path, serde_json::to_vec(&document).unwrap()).unwrap();

    // Act
    let (code, stderr) = refused(&path);

    // Assert
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("sha256 is not 64 lower-case hex digits"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A Kaltura app token is saved like the other objects: after a restart it is read back, with
/// its token, and still starts sessions.
#[tokio::test]
async fn a_kaltura_app_token_comes_back_after_a_restart() {
    // Arrange
    let dir = temp_dir("apptoken");
    let path = dir.join("state.json");
    let client = reqwest::Client::new();
    let call = |base: &str, query: &str| {
        let url = format!("{base}/api_v3/{query}&format=1");
        let client = client.clone();
        async move {
            let answer: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            answer
        }
    };
    let first = start(&path, &[]);
    let ks = call(
        &first.base,
        "service/session/action/start?secret=vidmock-admin-secret&partnerId=101&type=2",
    )
    .await;
    let ks = ks.as_str().unwrap().to_owned();
    let added = call(
        &first.base,
        &format!("service/appToken/action/add?ks={ks}&appToken:sessionUserId=player"),
    )
    .await;
    let id = added["id"].as_str().unwrap().to_owned();
    let token = added["token"].as_str().unwrap().to_owned();
    drop(first);

    // Act
    let second = start(&path, &[]);
    let got = call(
        &second.base,
        &format!("service/appToken/action/get?ks={ks}&id={id}"),
    )
    .await;
    let widget = call(
        &second.base,
        "service/session/action/startWidgetSession?widgetId=_101",
    )
    .await;
    let widget = widget["ks"].as_str().unwrap().to_owned();
    let hash = hex::encode(sha1::Sha1::digest(format!("{widget}{token}").as_bytes()));
    let session = call(
        &second.base,
        &format!("service/appToken/action/startSession?ks={widget}&id={id}&tokenHash={hash}"),
    )
    .await;

    // Assert
    assert_eq!(got["token"], token.as_str(), "{got}");
    assert_eq!(got["sessionUserId"], "player");
    assert_eq!(got["status"], 2);
    assert_eq!(session["userId"], "player", "{session}");
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}
