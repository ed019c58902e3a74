//! An HTTP hit counter written the way wasmCloud's documentation writes
//! components: the `wasmcloud-component` crate's `http::Server` and its
//! pre-generated `wasi:keyvalue@0.2.0-draft` bindings, nothing of our own.
//! wasmCloud's hosts provide that keyvalue with a capability provider;
//! composed with the datawal component (`make wasmcloud-compose`), the
//! state is a crash-safe store in the directory the host preopens, and
//! `wasmtime serve` (a fresh instance per request, many at once) runs it.
//!
//! - `GET /<path>` counts a hit of `<path>` (`atomics.increment` of
//!   `hits/<path>`), numbers an event (`events/next`) and writes it and
//!   `events/last` with one `batch.set-many`; answers `hits <n>`.
//! - `GET /_count/<path>` answers the count without changing it.
//!
//! A store error answers 500 with its message.

use wasmcloud_component::http::{self, Response, StatusCode};
use wasmcloud_component::wasi::keyvalue::{atomics, batch, store};

/// The bucket (a store directory under the host's preopened directory).
const BUCKET: &str = "wasmcloud";

struct Counter;

http::export!(Counter);

impl http::Server for Counter {
    fn handle(request: http::IncomingRequest) -> http::Result<Response<impl http::OutgoingBody>> {
        let path = request.uri().path().to_string();
        Ok(match serve(&path) {
            Ok(text) => Response::new(text),
            Err(e) => {
                let mut response = Response::new(format!("{e:?}\n"));
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                response
            }
        })
    }
}

fn serve(path: &str) -> Result<String, store::Error> {
    let bucket = store::open(BUCKET)?;
    if let Some(counted) = path.strip_prefix("/_count") {
        let n = match bucket.get(&format!("hits{counted}"))? {
            Some(v) => {
                u64::from_le_bytes(v.try_into().map_err(|_| store::Error::Other("not a counter".into()))?)
            }
            None => 0,
        };
        return Ok(format!("{n}\n"));
    }
    let hits = atomics::increment(&bucket, &format!("hits{path}"), 1)?;
    let event = atomics::increment(&bucket, "events/next", 1)?;
    let record = path.as_bytes().to_vec();
    batch::set_many(
        &bucket,
        &[(format!("events/{event:012}"), record.clone()), ("events/last".into(), record)],
    )?;
    Ok(format!("hits {hits}\n"))
}
