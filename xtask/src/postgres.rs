//! A throwaway PostgreSQL cluster for the test suite: initdb into a temporary folder as an
//! unprivileged user, listen on a free port of 127.0.0.1, stop and delete on drop.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

use crate::util;

/// The unprivileged account the cluster runs as when xtask runs as root (PostgreSQL refuses root).
const SERVICE_USER: &str = "recozik-pg";

#[derive(Debug)]
pub struct Throwaway {
    bin: PathBuf,
    data_dir: PathBuf,
    run_as: Option<&'static str>,
    pub url: String,
}

/// The newest PostgreSQL server binaries installed (Debian keeps them off PATH).
fn server_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    util::on_path("initdb").then(|| {
        std::env::var_os("PATH")
            .and_then(|paths| {
                std::env::split_paths(&paths).find(|dir| dir.join("initdb").is_file())
            })
            .unwrap_or_default()
    })
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

impl Throwaway {
    pub fn start() -> anyhow::Result<Self> {
        let bin = server_bin_dir().context("no PostgreSQL server binaries (initdb) found")?;
        let run_as = util::is_root().then_some(SERVICE_USER);
        if let Some(user) = run_as {
            ensure_user(user)?;
        }
        let data_dir = std::env::temp_dir().join(format!("recozik-pg-{}", std::process::id()));
        if data_dir.exists() {
            std::fs::remove_dir_all(&data_dir).ok();
        }
        std::fs::create_dir_all(&data_dir)?;
        if let Some(user) = run_as {
            util::run_status(Command::new("chown").arg(user).arg(&data_dir))?;
        }
        let port = free_port()?;
        let mut cluster = Self {
            bin,
            data_dir,
            run_as,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        };
        let pgdata = cluster.data_dir.join("pgdata");
        let pgdata_text = pgdata.to_string_lossy().into_owned();
        cluster.pg(
            "initdb",
            &[
                "-D",
                &pgdata_text,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )?;
        let socket_dir = cluster.data_dir.to_string_lossy().into_owned();
        let options = format!(
            "-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        );
        let log = cluster
            .data_dir
            .join("server.log")
            .to_string_lossy()
            .into_owned();
        if let Err(error) = cluster.pg(
            "pg_ctl",
            &[
                "-D",
                &pgdata_text,
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        ) {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            bail!("{error:#}\nserver log:\n{tail}");
        }
        cluster.url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        Ok(cluster)
    }

    fn pg(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let program = self.bin.join(program);
        let mut command = match self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(&program);
                command
            }
            None => Command::new(&program),
        };
        command.args(args).current_dir(&self.data_dir);
        util::output(&mut command).map(drop)
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        let pgdata = self.data_dir.join("pgdata").to_string_lossy().into_owned();
        if let Err(error) = self.pg("pg_ctl", &["-D", &pgdata, "-m", "immediate", "-w", "stop"]) {
            eprintln!("xtask: could not stop the throwaway PostgreSQL: {error:#}");
        }
        std::fs::remove_dir_all(&self.data_dir).ok();
    }
}

fn ensure_user(user: &str) -> anyhow::Result<()> {
    let exists = Command::new("id")
        .arg("-u")
        .arg(user)
        .output()
        .is_ok_and(|out| out.status.success());
    if !exists {
        util::run_status(
            Command::new("useradd")
                .args([
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                ])
                .arg(user),
        )?;
    }
    Ok(())
}
