//! `nimbus-bench-minimal-http [ADDR]`: binds ADDR (default 127.0.0.1:0), prints
//! `listening on <addr>` and answers every HTTP/1.1 request, keep-alive, with 200 and a fixed
//! 11-byte JSON body after reading the request body in full (as any API server must).

use std::convert::Infallible;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let _ = req.into_body().collect().await;
    let mut resp = Response::new(Full::new(Bytes::from_static(b"{\"ok\":true}")));
    resp.headers_mut()
        .insert("content-type", "application/json".parse().expect("static"));
    Ok(resp)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), hyper::service::service_fn(answer))
                .await;
        });
    }
}
