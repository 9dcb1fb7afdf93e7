//! Shared set-up for the integration and end-to-end tests: a real moto server over HTTP, and fresh,
//! uniquely named resources per test so tests never see each other's data.

use std::path::PathBuf;

use crate::clients::Clients;

use crate::moto::MotoServer;
use crate::resources::{self, Names, Resources};
use crate::StackOptions;

pub const REGION: &str = "us-east-1";

/// The repository root (this crate lives at tools/local).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// Stack options for tests, with paths laid out by `tools/setup.sh`; panics with the fix when absent.
pub fn stack_options() -> StackOptions {
    let mut options = StackOptions::from_repo_root(&repo_root());
    options.refuse_internal_names = true;
    for (what, path) in [
        ("moto server", &options.moto_server),
        ("model", &options.models[0].join("model.onnx")),
        ("ONNX Runtime", &options.ort_library),
    ] {
        assert!(
            path.exists(),
            "{what} not found at {}: run `make setup` (tools/setup.sh) first",
            path.display()
        );
    }
    options
}

/// A running emulator: the shared one named by IMGPIPE_TEST_AWS_ENDPOINT, or a private moto server.
pub struct Emulator {
    pub clients: Clients,
    pub endpoint: String,
    _server: Option<MotoServer>,
}

impl Emulator {
    pub async fn start() -> Self {
        if let Ok(endpoint) = std::env::var("IMGPIPE_TEST_AWS_ENDPOINT") {
            let clients = Clients::for_emulator(&endpoint, REGION, None).await;
            return Self {
                clients,
                endpoint,
                _server: None,
            };
        }
        let server = MotoServer::start(&stack_options().moto_server, None)
            .await
            .expect("moto server starts");
        let clients = Clients::for_emulator(&server.endpoint, REGION, None).await;
        Self {
            clients,
            endpoint: server.endpoint.clone(),
            _server: Some(server),
        }
    }

    /// Clients whose calls `calls` records (and into which it can inject faults).
    pub async fn recorded_clients(&self, calls: &std::sync::Arc<crate::calls::AwsCalls>) -> Clients {
        Clients::for_emulator(&self.endpoint, REGION, Some(calls.interceptor())).await
    }

    /// The pipeline's resources under a fresh random environment name, for the Lite0 model.
    pub async fn resources(&self, visibility_timeout_secs: u32) -> Resources {
        let environment = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        resources::create(
            &self.clients,
            Names::new("imgpipe", &environment),
            &["efficientnet-lite0"],
            visibility_timeout_secs,
        )
        .await
        .expect("resources are created")
    }
}
