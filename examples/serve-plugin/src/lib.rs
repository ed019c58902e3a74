//! A served plugin, the way WASI hosts run them: `wasmtime serve` (or Spin)
//! makes a fresh instance for every HTTP request, many at once, and each
//! keeps state through `wasi:keyvalue` alone. It knows nothing of datawal;
//! composed with the datawal component, every instance opens the same
//! store, in shared mode.
//!
//! - `GET /<path>` counts a hit of `<path>` (`atomics.increment` of
//!   `hits/<path>`), appends an event (`events/next` numbers it,
//!   `events/<12 digits>` holds the path) and answers `hits <n>`.
//! - `GET /_count/<path>` answers the count without changing it.
//!
//! Errors answer 500 with the store's message.

use wasi::keyvalue::{atomics, store};
use wasip2::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

wit_bindgen::generate!({
    world: "serve",
    path: "wit",
    generate_all,
});

wasip2::http::proxy::export!(Plugin);

/// The bucket (a store directory under the host's preopened directory).
const BUCKET: &str = "served";

struct Plugin;

impl wasip2::exports::http::incoming_handler::Guest for Plugin {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let (status, body) = match serve(&path) {
            Ok(text) => (200, text),
            Err(e) => (500, format!("{e:?}\n")),
        };
        let response = OutgoingResponse::new(Fields::new());
        response.set_status_code(status).expect("a valid status");
        let outgoing = response.body().expect("the body, once");
        ResponseOutparam::set(out, Ok(response));
        let stream = outgoing.write().expect("the stream, once");
        // A client that went away is not the plugin's failure.
        let _ = stream.blocking_write_and_flush(body.as_bytes());
        drop(stream);
        let _ = OutgoingBody::finish(outgoing, None);
    }
}

fn serve(path: &str) -> Result<String, store::Error> {
    let bucket = store::open(BUCKET)?;
    if let Some(counted) = path.strip_prefix("/_count") {
        let n = match bucket.get(&format!("hits{counted}"))? {
            Some(v) => {
                i64::from_le_bytes(v.try_into().map_err(|_| store::Error::Other("not a counter".into()))?)
            }
            None => 0,
        };
        return Ok(format!("{n}\n"));
    }
    let hits = atomics::increment(&bucket, &format!("hits{path}"), 1)?;
    let event = atomics::increment(&bucket, "events/next", 1)?;
    bucket.set(&format!("events/{event:012}"), path.as_bytes())?;
    Ok(format!("hits {hits}\n"))
}
