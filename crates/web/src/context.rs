//! Per-request facts that deep code needs without threading them through every call:
//! the request id (for error bodies and audit entries) and the client address.

use std::future::Future;

#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub client_ip: Option<String>,
}

tokio::task_local! {
    static CONTEXT: RequestContext;
}

/// Runs a request's future with its context available to everything it calls.
pub async fn scope<F: Future>(context: RequestContext, fut: F) -> F::Output {
    CONTEXT.scope(context, fut).await
}

pub fn request_id() -> Option<String> {
    CONTEXT.try_with(|c| c.request_id.clone()).ok()
}

pub fn client_ip() -> Option<String> {
    CONTEXT.try_with(|c| c.client_ip.clone()).ok().flatten()
}
