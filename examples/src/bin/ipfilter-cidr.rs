//! `ipfilter-cidr`: an IP filter plugin that allows only the networks of an
//! allow-list and denies every other address.
//!
//! ```text
//! ipfilter-cidr [--allow CIDR]... [--allow-file PATH]
//! ```
//!
//! `--allow` entries are fixed; the file (one network or address a line, `#`
//! comments) is read at start and again on each `Reload` (SFTPGo calls it on
//! SIGHUP, `plexus serve` too), so edits take effect on reload only. A
//! denied address gets `PERMISSION_DENIED`, an unparseable one
//! `INVALID_ARGUMENT` (both deny, as any error does).

use clap::Parser;
use plexus_examples::cidr::{parse_list, Network};
use plexus_sdk::ipfilter::{CheckIpRequest, IpFilter, IpFilterServer};
use plexus_sdk::{async_trait, PluginKind, PluginServer, Request, Response, Status};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::RwLock;

#[derive(Debug, Parser)]
#[command(
    name = "ipfilter-cidr",
    version,
    about = "An SFTPGo/Plexus IP filter plugin: allow only the listed networks",
    long_about = "An SFTPGo/Plexus IP filter plugin: allow only the listed networks.\n\n\
        Started by the host (it refuses to run by hand). Every client IP the host \
        checks (SSH, FTP, DAV, HTTP) is allowed when it lies in one of the --allow \
        networks or the networks of --allow-file, and denied otherwise (gRPC \
        PERMISSION_DENIED naming the IP); a value that is not an IP gets \
        INVALID_ARGUMENT. IPv4 and IPv6; an IPv4-mapped IPv6 address matches IPv4 \
        networks. With no networks at all, everything is denied.",
    after_help = "The allow file: one network (10.0.0.0/8, 2001:db8::/32) or address a line, \
        '#' starts a comment. It is read at start and again on Reload only (SFTPGo \
        reloads on SIGHUP, so does `plexus serve`); a file that no longer parses \
        fails the Reload and the previous list stays in force.\n\n\
        In the host's plugins config:\n  \
        {\"type\": \"ipfilter\", \"cmd\": \"/usr/local/bin/ipfilter-cidr\",\n   \
        \"args\": [\"--allow\", \"127.0.0.0/8\", \"--allow-file\", \"/etc/sftpgo/allow.txt\"],\n   \
        \"auto_mtls\": true}"
)]
struct Args {
    /// An allowed network (`10.0.0.0/8`, `2001:db8::/32`) or address; repeatable.
    #[arg(long, value_name = "CIDR")]
    allow: Vec<String>,
    /// A file of allowed networks, one a line; re-read on Reload.
    #[arg(long, value_name = "PATH")]
    allow_file: Option<PathBuf>,
}

struct CidrFilter {
    fixed: Vec<Network>,
    file: Option<PathBuf>,
    from_file: RwLock<Vec<Network>>,
}

impl CidrFilter {
    fn read_file(&self) -> Result<Vec<Network>, String> {
        let Some(path) = &self.file else {
            return Ok(Vec::new());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        parse_list(&text, &path.display().to_string())
    }
}

#[async_trait]
impl IpFilter for CidrFilter {
    async fn check_ip(&self, request: Request<CheckIpRequest>) -> Result<Response<()>, Status> {
        let request = request.into_inner();
        let ip: IpAddr = request.ip.parse().map_err(|_| {
            Status::invalid_argument(format!("{:?} is not an IP address", request.ip))
        })?;
        let from_file = self
            .from_file
            .read()
            .map_err(|_| Status::internal("allow-list unavailable"))?;
        if self
            .fixed
            .iter()
            .chain(from_file.iter())
            .any(|net| net.contains(ip))
        {
            Ok(Response::new(()))
        } else {
            Err(Status::permission_denied(format!(
                "{ip} is not in an allowed network (protocol {})",
                request.protocol
            )))
        }
    }

    async fn reload(&self, _: Request<()>) -> Result<Response<()>, Status> {
        let networks = self.read_file().map_err(Status::failed_precondition)?;
        let count = networks.len();
        *self
            .from_file
            .write()
            .map_err(|_| Status::internal("allow-list unavailable"))? = networks;
        tracing::info!(networks = count, "allow-list reloaded");
        Ok(Response::new(()))
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(err) = plexus_sdk::check_cookie(PluginKind::IpFilter) {
        err.report(PluginKind::IpFilter);
        return err.exit_code();
    }
    plexus_sdk::logging::init("ipfilter-cidr");
    let fixed: Result<Vec<Network>, String> =
        args.allow.iter().map(|a| Network::parse(a)).collect();
    let fixed = match fixed {
        Ok(fixed) => fixed,
        Err(err) => return fatal(&format!("--allow: {err}")),
    };
    let filter = CidrFilter {
        fixed,
        file: args.allow_file,
        from_file: RwLock::new(Vec::new()),
    };
    match filter.read_file() {
        Ok(networks) => *filter.from_file.write().unwrap_or_else(|p| p.into_inner()) = networks,
        Err(err) => return fatal(&err),
    }
    let from_file = filter.from_file.read().map(|l| l.len()).unwrap_or(0);
    tracing::info!(
        fixed = filter.fixed.len(),
        from_file,
        "ip filter plugin starting"
    );
    if filter.fixed.is_empty() && from_file == 0 {
        tracing::warn!("the allow-list is empty: every address is denied");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fatal(&format!("cannot start the async runtime: {err}")),
    };
    runtime.block_on(PluginServer::new(IpFilterServer::new(filter)).run())
}

fn fatal(message: &str) -> ExitCode {
    eprintln!("[ERROR] ipfilter-cidr: {message}");
    ExitCode::FAILURE
}
