//! Prometheus metrics (placeholder with the agreed API; the real one lands with the webhook work).
#[derive(Clone, Default)]
pub struct Metrics;
impl Metrics {
    pub fn new() -> Metrics {
        Metrics
    }
    pub fn delivery(&self, _event: &str, _outcome: &str) {}
    pub fn decision(&self, _state: &str) {}
    pub fn api_call(&self, _method: &str, _endpoint: &str, _status: u16, _seconds: f64) {}
    pub fn merge(&self, _outcome: &str) {}
    pub fn queue_depth(&self, _n: usize) {}
    pub fn processing_latency(&self, _seconds: f64) {}
    pub fn webhook_latency(&self, _seconds: f64) {}
    pub fn render(&self) -> String {
        String::new()
    }
}
