//! A real OpenLDAP server for the tests: each test starts its own `slapd`
//! on free loopback ports (LDAP with StartTLS, and LDAPS), with a
//! certificate signed by a CA generated here, the memberOf overlay and a
//! small AD-like schema (`user` with `sAMAccountName`/`sAMAccountType`, and
//! `sshPublicKey`), then seeds it over LDAP with the client crate, so the
//! overlay fills `memberOf`. The server is killed when the handle drops.
//! A missing `slapd` fails the test with the command that installs it.

#![allow(dead_code)]

use std::collections::HashSet;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ldap3::{LdapConnAsync, Mod};
use plexus_auth_ldap::authenticator::Authenticator;
use plexus_auth_ldap::settings::{Origin, RawSettings, Secret, DEFAULT_SEARCH_QUERY};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

pub const BASE_DN: &str = "dc=example,dc=com";
pub const ROOT_DN: &str = "cn=admin,dc=example,dc=com";
pub const ROOT_PW: &str = "secret";
pub const SERVICE_DN: &str = "cn=sftpgo,ou=services,dc=example,dc=com";
pub const SERVICE_PW: &str = "service-pw";
pub const ALICE_PW: &str = "alice-pw";
pub const BOB_PW: &str = "bob-pw";
pub const ALICE_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop";
pub const OTHER_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFu8wUIf4yYUbyYSLTiKZ3RcdNUwbDj7ZZSj1kBzTSXi";

const SLAPD: &str = "/usr/sbin/slapd";

const AD_SCHEMA: &str = "\
attributetype ( 1.3.6.1.4.1.55555.1.1 NAME 'sAMAccountName' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.2 NAME 'sAMAccountType' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.3 NAME 'sshPublicKey' EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 )
objectclass ( 1.3.6.1.4.1.55555.2.1 NAME 'user' SUP inetOrgPerson STRUCTURAL MAY ( sAMAccountName $ sAMAccountType $ sshPublicKey ) )
";

/// One running slapd and its files.
pub struct Slapd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub tls_port: u16,
    /// The CA that signed the server certificate.
    pub ca: PathBuf,
    /// Another CA, which did not.
    pub other_ca: PathBuf,
    child: Option<Child>,
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

impl Slapd {
    /// Starts a seeded server.
    pub async fn start() -> Slapd {
        Slapd::start_with("").await
    }

    /// Starts a seeded server with `global` (slapd.conf lines, such as
    /// `threads 4`) added to the global section of its configuration.
    pub async fn start_with(global: &str) -> Slapd {
        assert!(
            Path::new(SLAPD).exists(),
            "{SLAPD} is missing: these tests need OpenLDAP. Install it with \
             `DEBIAN_FRONTEND=noninteractive apt-get install -y slapd ldap-utils` (.ci/run does)"
        );
        let dir = tempfile::tempdir().expect("temporary directory");
        let d = dir.path();
        std::fs::create_dir(d.join("db")).expect("db directory");
        let (ca, other_ca) = write_certificates(d);
        std::fs::write(d.join("ad.schema"), AD_SCHEMA).expect("write ad.schema");
        let conf = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             include {d}/ad.schema\n\
             pidfile {d}/slapd.pid\n\
             {global}\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             moduleload memberof\n\
             TLSCertificateFile {d}/cert.pem\n\
             TLSCertificateKeyFile {d}/key.pem\n\
             database mdb\n\
             suffix \"{BASE_DN}\"\n\
             rootdn \"{ROOT_DN}\"\n\
             rootpw {ROOT_PW}\n\
             directory {d}/db\n\
             maxsize 10485760\n\
             index objectClass eq\n\
             index sAMAccountName eq\n\
             overlay memberof\n",
            d = d.display()
        );
        std::fs::write(d.join("slapd.conf"), conf).expect("write slapd.conf");
        let mut slapd = Slapd {
            port: free_port(),
            tls_port: free_port(),
            ca,
            other_ca,
            child: None,
            dir,
        };
        slapd.run();
        slapd.seed().await;
        slapd
    }

    fn run(&mut self) {
        let d = self.dir.path();
        let child = Command::new(SLAPD)
            .arg("-f")
            .arg(d.join("slapd.conf"))
            .arg("-h")
            .arg(format!(
                "ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{}/",
                self.port, self.tls_port
            ))
            .args(["-d", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start slapd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err()
            || TcpStream::connect(("127.0.0.1", self.tls_port)).is_err()
        {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    let mut err = String::new();
                    if let Some(mut stderr) = child.stderr.take() {
                        use std::io::Read;
                        let _ = stderr.read_to_string(&mut err);
                    }
                    panic!("slapd exited at start ({status}): {err}");
                }
            }
            assert!(
                Instant::now() < deadline,
                "slapd did not listen within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server (its data stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops and starts the server on the same ports and data.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// The server's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    pub fn tls_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.tls_port)
    }

    /// Settings for this server: the service account, the default AD
    /// query, `memberOf`.
    pub fn raw(&self) -> RawSettings {
        RawSettings {
            dial_urls: vec![self.url()],
            base_dn: BASE_DN.into(),
            bind_dn: SERVICE_DN.into(),
            password: Secret(SERVICE_PW.into()),
            search_query: DEFAULT_SEARCH_QUERY.into(),
            group_attributes: vec!["memberOf".into()],
            ..RawSettings::default()
        }
    }

    /// An authenticator for `raw`, its re-probe task started.
    pub fn authenticator(raw: RawSettings) -> Authenticator {
        let auth = Authenticator::new(raw.validate(Origin::Flags).expect("valid settings"))
            .expect("authenticator");
        auth.start();
        auth
    }

    /// A root connection, for seeding and changes made by a test.
    pub async fn admin(&self) -> ldap3::Ldap {
        let (conn, mut ldap) = LdapConnAsync::new(&self.url())
            .await
            .expect("connect to slapd");
        ldap3::drive!(conn);
        ldap.simple_bind(ROOT_DN, ROOT_PW)
            .await
            .expect("bind as root")
            .success()
            .expect("root bind accepted");
        ldap
    }

    async fn seed(&self) {
        let mut ldap = self.admin().await;
        add(
            &mut ldap,
            BASE_DN,
            &[
                ("objectClass", &["top", "dcObject", "organization"]),
                ("o", &["example"]),
                ("dc", &["example"]),
            ],
        )
        .await;
        for ou in ["users", "others", "groups", "services"] {
            add(
                &mut ldap,
                &format!("ou={ou},{BASE_DN}"),
                &[("objectClass", &["organizationalUnit"]), ("ou", &[ou])],
            )
            .await;
        }
        add(
            &mut ldap,
            SERVICE_DN,
            &[
                ("objectClass", &["person"]),
                ("cn", &["sftpgo"]),
                ("sn", &["service"]),
                ("userPassword", &[SERVICE_PW]),
            ],
        )
        .await;
        self.add_user(&mut ldap, "users", "alice", ALICE_PW, &[ALICE_KEY])
            .await;
        self.add_user(&mut ldap, "users", "bob", BOB_PW, &[]).await;
        self.add_user(&mut ldap, "users", "carol", "carol-pw", &[])
            .await;
        self.add_user(&mut ldap, "users", "twin", "twin-pw", &[])
            .await;
        self.add_user(&mut ldap, "others", "twin", "twin-pw", &[])
            .await;
        for (group, members) in [
            ("sftpgo_primary1", &["alice"][..]),
            ("sftpgo_secondary1", &["alice", "bob"][..]),
            ("sftpgo_membership1", &["alice"][..]),
            ("unrelated", &["alice", "bob", "carol"][..]),
            ("role_ops", &["bob", "carol"][..]),
            ("role_dev", &["carol"][..]),
        ] {
            let members: Vec<String> = members
                .iter()
                .map(|m| format!("cn={m},ou=users,{BASE_DN}"))
                .collect();
            let members: Vec<&str> = members.iter().map(String::as_str).collect();
            add(
                &mut ldap,
                &format!("cn={group},ou=groups,{BASE_DN}"),
                &[
                    ("objectClass", &["groupOfNames"]),
                    ("cn", &[group]),
                    ("member", &members),
                ],
            )
            .await;
        }
        let _ = ldap.unbind().await;
    }

    async fn add_user(
        &self,
        ldap: &mut ldap3::Ldap,
        ou: &str,
        name: &str,
        password: &str,
        keys: &[&str],
    ) {
        let mut attrs: Vec<(&str, &[&str])> = vec![
            ("objectClass", &["user"]),
            ("cn", std::slice::from_ref(&name)),
            ("sn", std::slice::from_ref(&name)),
            ("sAMAccountName", std::slice::from_ref(&name)),
            ("sAMAccountType", &["805306368"]),
            ("userPassword", std::slice::from_ref(&password)),
        ];
        if !keys.is_empty() {
            attrs.push(("sshPublicKey", keys));
        }
        add(ldap, &format!("cn={name},ou={ou},{BASE_DN}"), &attrs).await;
    }

    /// Replaces one attribute of an entry.
    pub async fn replace(&self, dn: &str, attr: &str, values: &[&str]) {
        let mut ldap = self.admin().await;
        let values: HashSet<&str> = values.iter().copied().collect();
        ldap.modify(dn, vec![Mod::Replace(attr, values)])
            .await
            .expect("modify")
            .success()
            .unwrap_or_else(|err| panic!("modify {dn}: {err}"));
        let _ = ldap.unbind().await;
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn add(ldap: &mut ldap3::Ldap, dn: &str, attrs: &[(&str, &[&str])]) {
    let attrs: Vec<(&str, HashSet<&str>)> = attrs
        .iter()
        .map(|(name, values)| (*name, values.iter().copied().collect()))
        .collect();
    ldap.add(dn, attrs)
        .await
        .expect("add")
        .success()
        .unwrap_or_else(|err| panic!("add {dn}: {err}"));
}

/// cert.pem/key.pem for 127.0.0.1 signed by a new CA (ca.pem), and an
/// unrelated CA (other-ca.pem).
fn write_certificates(dir: &Path) -> (PathBuf, PathBuf) {
    let ca = new_ca("Plexus test CA");
    let server_key = KeyPair::generate().expect("server key");
    let params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("server params");
    let server = params
        .signed_by(&server_key, &ca)
        .expect("sign server certificate");
    std::fs::write(dir.join("cert.pem"), server.pem()).expect("write cert.pem");
    std::fs::write(dir.join("key.pem"), server_key.serialize_pem()).expect("write key.pem");
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.pem()).expect("write ca.pem");
    let other = new_ca("Another CA");
    let other_path = dir.join("other-ca.pem");
    std::fs::write(&other_path, other.pem()).expect("write other-ca.pem");
    (ca_path, other_path)
}

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA")
}
