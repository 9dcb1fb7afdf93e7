//! moto server as a child process on 127.0.0.1.

use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

pub struct MotoServer {
    child: Child,
    pub endpoint: String,
    pub pid: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error("moto server executable {0} not found; run tools/setup.sh (or make setup) first")]
    Missing(String),
    #[error("cannot start moto server: {0}")]
    Spawn(std::io::Error),
    #[error("moto server did not become ready on {0} within {1:?}")]
    NotReady(String, Duration),
}

const LAUNCHER: &str = include_str!("moto_launcher.py");

/// A port the OS says is free right now.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl MotoServer {
    /// Starts `moto_server` and waits until it answers. The child is killed when this value is dropped.
    pub async fn start(executable: &Path, log: Option<&Path>) -> Result<Self, MotoError> {
        if !executable.is_file() {
            return Err(MotoError::Missing(executable.display().to_string()));
        }
        let port = free_port().map_err(MotoError::Spawn)?;
        let (stdout, stderr) = match log {
            Some(path) => {
                let file = std::fs::File::create(path).map_err(MotoError::Spawn)?;
                let copy = file.try_clone().map_err(MotoError::Spawn)?;
                (Stdio::from(file), Stdio::from(copy))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        // moto_server's own entry point, behind a wrapper that makes each DynamoDB request atomic
        // (moto_launcher.py says why); run with the python of the same venv.
        let python = executable.with_file_name("python");
        let child = Command::new(&python)
            .args(["-c", LAUNCHER, "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .map_err(MotoError::Spawn)?;
        let pid = child.id().unwrap_or_default();
        let endpoint = format!("http://127.0.0.1:{port}");
        let server = Self { child, endpoint, pid };
        server.wait_ready(Duration::from_secs(60)).await?;
        Ok(server)
    }

    async fn wait_ready(&self, timeout: Duration) -> Result<(), MotoError> {
        let started = Instant::now();
        let address = self.endpoint.trim_start_matches("http://").to_owned();
        while started.elapsed() < timeout {
            if tokio::net::TcpStream::connect(&address).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(MotoError::NotReady(self.endpoint.clone(), timeout))
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
