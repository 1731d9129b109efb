//! A property of Kaltura's chunk engine, over a real socket: under the documented parallel
//! protocol (../shared/specs/kaltura.md §4.4) — one `resume=false` part, then `resume=true`
//! chunks at their offsets in any order, some resent, some overlapping the next, and a
//! verified final chunk that may arrive before the others — any file, cut anywhere, is
//! reassembled byte for byte.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::support::{bytes, sha256, Api, Chunk};
use vidmock::kaltura::SessionType;
use vidmock::MockServer;

/// One upload scenario.
#[derive(Clone, Debug)]
struct Plan {
    len: usize,
    seed: u8,
    /// Where the file is cut (sorted, distinct, within `1..len`): chunk `i` is
    /// `cuts[i-1]..cuts[i]`.
    cuts: Vec<usize>,
    /// Extra bytes each chunk but the final carries past its end (an overlap with the next).
    overlaps: Vec<usize>,
    /// Which chunks are sent twice.
    resent: Vec<bool>,
    /// Sort keys giving the arrival order of the middle chunks.
    order: Vec<u32>,
    /// How many middle chunks go before the final chunk is sent.
    final_after: usize,
    /// Close with a zero-length final chunk at the end instead of a final last chunk.
    empty_final: bool,
}

fn plans() -> impl Strategy<Value = Plan> {
    (2usize..40_000, any::<u8>(), 1usize..10).prop_flat_map(|(len, seed, cut_count)| {
        (
            Just(len),
            Just(seed),
            proptest::collection::vec(1..len, cut_count),
            proptest::collection::vec(0usize..300, 12),
            proptest::collection::vec(any::<bool>(), 12),
            proptest::collection::vec(any::<u32>(), 24),
            0usize..24,
            any::<bool>(),
        )
            .prop_map(
                |(len, seed, mut cuts, overlaps, resent, order, final_after, empty_final)| {
                    cuts.sort_unstable();
                    cuts.dedup();
                    Plan {
                        len,
                        seed,
                        cuts,
                        overlaps,
                        resent,
                        order,
                        final_after,
                        empty_final,
                    }
                },
            )
    })
}

async fn run(server: &MockServer, plan: Plan) -> Result<(), TestCaseError> {
    let api = Api::new(server, &server.kaltura().ks("", SessionType::Admin));
    let data = bytes(plan.len, plan.seed);
    let mut bounds = vec![0];
    bounds.extend(plan.cuts.iter().copied());
    bounds.push(plan.len);
    // Chunk i covers bounds[i]..bounds[i+1], plus its overlap (never for the last one).
    let count = bounds.len() - 1;
    let chunk = |i: usize| -> (usize, Vec<u8>) {
        let start = bounds[i];
        let end = if i + 1 == count {
            bounds[i + 1]
        } else {
            (bounds[i + 1] + plan.overlaps[i % plan.overlaps.len()]).min(plan.len)
        };
        (start, data[start..end].to_vec())
    };
    let id = api.add_token(&[]).await;

    let (_, first) = chunk(0);
    let opened = api.upload(&id, &first, Chunk::FIRST).await;
    prop_assert_eq!(&opened["status"], 1, "{}", opened);

    // The middle chunks (and the last one when an empty chunk closes), some twice, shuffled.
    let last_middle = if plan.empty_final { count } else { count - 1 };
    let mut middles: Vec<(u32, usize)> = Vec::new();
    for i in 1..last_middle {
        middles.push((plan.order[i % plan.order.len()], i));
        if plan.resent[i % plan.resent.len()] {
            middles.push((plan.order[(i + 12) % plan.order.len()], i));
        }
    }
    middles.sort();

    let (final_offset, final_data) = if plan.empty_final {
        (plan.len, Vec::new())
    } else {
        chunk(count - 1)
    };
    let final_after = plan.final_after.min(middles.len());
    let mut final_task = None;
    for (sent, (_, i)) in middles.iter().enumerate() {
        if sent == final_after {
            final_task = Some(spawn_final(&api, &id, final_offset, &final_data));
        }
        let (offset, piece) = chunk(*i);
        let answer = api.upload(&id, &piece, Chunk::at(offset as i64)).await;
        // A chunk that arrives once the file is complete finds the token closed to uploads.
        let ok =
            answer["status"] == 1 || answer["code"] == "UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD";
        prop_assert!(ok, "{}", answer);
    }
    let final_task =
        final_task.unwrap_or_else(|| spawn_final(&api, &id, final_offset, &final_data));
    let closed = final_task
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;

    prop_assert_eq!(&closed["status"], 2, "{}", closed);
    prop_assert_eq!(&closed["uploadedFileSize"], &plan.len.to_string());
    let token = server.kaltura().upload_token(&id).unwrap();
    let expected = sha256(&data);
    prop_assert_eq!(token.sha256(), Some(expected.as_str()));
    prop_assert!(token.content().unwrap() == data, "content differs");
    Ok(())
}

fn spawn_final(
    api: &Api,
    id: &str,
    offset: usize,
    data: &[u8],
) -> tokio::task::JoinHandle<serde_json::Value> {
    let (api, id, data) = (api.clone(), id.to_owned(), data.to_vec());
    tokio::spawn(async move { api.upload(&id, &data, Chunk::last_at(offset as i64)).await })
}

#[test]
fn any_file_cut_anywhere_and_sent_in_any_order_reassembles_byte_exact() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Correct assembly never needs the whole wait; a short one keeps a failing run short.
    let server = runtime.block_on(
        MockServer::builder()
            .kaltura_final_chunk_wait(std::time::Duration::from_secs(1))
            .start(),
    );
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });

    let result = runner.run(&plans(), |plan| runtime.block_on(run(&server, plan)));

    if let Err(failure) = result {
        panic!("{failure}");
    }
}
