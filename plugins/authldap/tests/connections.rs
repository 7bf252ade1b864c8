//! Connections against a real slapd: LDAPS and StartTLS with the right CA,
//! a wrong CA and skip-verify; failover when the first URL is down and the
//! re-probe that brings it back; the pools (bounded, reused, reconnecting
//! after a server restart); the credential cache (hit, mismatch, expiry);
//! several directories tried in last-good order.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use plexus_auth_ldap::authenticator::Authenticator;
use plexus_auth_ldap::config_file::ConfigFile;
use plexus_auth_ldap::error::AuthError;
use plexus_auth_ldap::multi::Directories;

const NEW: &[u8] = br#"{"id": 0, "username": "alice"}"#;

fn path(p: &std::path::Path) -> String {
    p.to_str().expect("UTF-8 path").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldaps_and_starttls_with_good_and_bad_ca() {
    let slapd = Slapd::start().await;
    for (url, start_tls) in [(slapd.tls_url(), 0), (slapd.url(), 1)] {
        let mut raw = slapd.raw();
        raw.dial_urls = vec![url.clone()];
        raw.start_tls = start_tls;
        raw.ca_certificates = vec![path(&slapd.ca)];
        let auth = Slapd::authenticator(raw.clone());
        auth.check_password("alice", ALICE_PW, NEW)
            .await
            .unwrap_or_else(|err| panic!("{url} starttls={start_tls}: {err}"));

        raw.ca_certificates = vec![path(&slapd.other_ca)];
        let auth = Slapd::authenticator(raw.clone());
        let err = auth
            .check_password("alice", ALICE_PW, NEW)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, AuthError::Unavailable(m) if m.to_lowercase().contains("certificate")),
            "{url} starttls={start_tls}: {err}"
        );

        raw.skip_tls_verify = true;
        let auth = Slapd::authenticator(raw);
        auth.check_password("alice", ALICE_PW, NEW)
            .await
            .unwrap_or_else(|err| panic!("{url} skip-verify: {err}"));
    }
}

/// Forwards a loopback port to slapd, standing in for a server that comes back.
async fn forward(port: u16, to: u16) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the forwarder");
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_and_the_reprobe() {
    let slapd = Slapd::start().await;
    let down_port = free_port();
    let down = format!("ldap://127.0.0.1:{down_port}");
    let mut raw = slapd.raw();
    raw.dial_urls = vec![down.clone(), slapd.url()];
    raw.monitor_interval = 1;
    raw.pool_size = 1;
    // The order is random: until the down URL has been tried first, each
    // new authenticator (with empty pools) logs in once. Every login works.
    let mut tried = None;
    for _ in 0..40 {
        let auth = Slapd::authenticator(raw.clone());
        auth.check_password("alice", ALICE_PW, NEW).await.unwrap();
        let inactive: Vec<String> = auth
            .directory()
            .endpoints()
            .inactive()
            .iter()
            .map(|u| u.to_string())
            .collect();
        if !inactive.is_empty() {
            assert_eq!(inactive, std::slice::from_ref(&down));
            tried = Some(auth);
            break;
        }
    }
    let auth = tried.expect("the down URL was never tried first in 40 shuffles");
    let endpoints = auth.directory().endpoints();
    // While it is down, only the good URL is used.
    for _ in 0..4 {
        auth.check_password("alice", ALICE_PW, NEW).await.unwrap();
    }
    assert_eq!(endpoints.inactive().len(), 1);

    // The server comes back: the re-probe (every second here) restores it.
    let forwarder = forward(down_port, slapd.port).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !endpoints.inactive().is_empty() {
        assert!(
            Instant::now() < deadline,
            "{down} was not restored by the re-probe"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(endpoints.active().len(), 2);
    auth.check_password("alice", ALICE_PW, NEW).await.unwrap();
    forwarder.abort();

    // Every URL down: the error names the last one tried.
    let mut raw = slapd.raw();
    raw.dial_urls = vec![down.clone(), format!("ldap://127.0.0.1:{}", free_port())];
    let auth = Slapd::authenticator(raw);
    let err = auth
        .check_password("alice", ALICE_PW, NEW)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Unavailable(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_are_bounded_reused_and_reconnect() {
    let mut slapd = Slapd::start().await;
    let mut raw = slapd.raw();
    raw.pool_size = 2;
    let auth = Arc::new(Slapd::authenticator(raw));
    for _ in 0..10 {
        auth.check_password("alice", ALICE_PW, NEW).await.unwrap();
    }
    assert_eq!(auth.directory().idle_connections(), (1, 1));
    let logins = (0..32).map(|i| {
        let auth = auth.clone();
        tokio::spawn(async move {
            let (user, password) = if i % 2 == 0 {
                ("alice", ALICE_PW)
            } else {
                ("bob", BOB_PW)
            };
            auth.check_password(user, password, b"").await
        })
    });
    for login in futures::future::join_all(logins).await {
        login.expect("login task").expect("login");
    }
    let (searches, binds) = auth.directory().idle_connections();
    assert!(
        (1..=2).contains(&searches) && (1..=2).contains(&binds),
        "{searches} {binds}"
    );

    // The server restarts: pooled connections are dead, logins go on.
    slapd.restart();
    for _ in 0..3 {
        auth.check_password("alice", ALICE_PW, NEW)
            .await
            .expect("login after a server restart");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_hits_refuses_and_expires() {
    let mut slapd = Slapd::start().await;
    let mut raw = slapd.raw();
    raw.cache_time = 1;
    let auth = Slapd::authenticator(raw);
    // Miss: LDAP answers, the user document comes back.
    assert!(!auth
        .check_password("alice", ALICE_PW, NEW)
        .await
        .unwrap()
        .is_empty());
    // A wrong password is not cached.
    assert!(auth.check_password("bob", "wrong", NEW).await.is_err());
    slapd.stop();
    // Hits: no LDAP traffic (the server is down), an empty answer.
    assert!(auth
        .check_password("alice", ALICE_PW, NEW)
        .await
        .unwrap()
        .is_empty());
    assert!(auth
        .check_keyboard_interactive("alice", NEW)
        .await
        .unwrap()
        .is_empty());
    let step = auth
        .keyboard_step("alice", &[ALICE_PW.to_owned()], 2)
        .await
        .unwrap();
    assert_eq!(step.auth_result, 1);
    // Another password: refused at once, no LDAP fallback.
    assert_eq!(
        auth.check_password("alice", "other", NEW)
            .await
            .unwrap_err(),
        AuthError::InvalidCredentials
    );
    assert!(matches!(
        auth.check_password("bob", BOB_PW, NEW).await.unwrap_err(),
        AuthError::Unavailable(_)
    ));
    // Expired: LDAP is asked again (and is down).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(matches!(
        auth.check_password("alice", ALICE_PW, NEW)
            .await
            .unwrap_err(),
        AuthError::Unavailable(_)
    ));
    slapd.restart();
    assert!(!auth
        .check_password("alice", ALICE_PW, NEW)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directories_are_tried_in_last_good_order() {
    let slapd = Slapd::start().await;
    let entry = |query: &str, urls: &[String]| {
        serde_json::json!({
            "dial_urls": urls, "base_dn": BASE_DN, "bind_dn": SERVICE_DN,
            "password": SERVICE_PW, "search_query": query,
            "group_attributes": ["memberOf"]
        })
    };
    let only_bob = "(&(objectClass=user)(cn=bob)(sAMAccountName=%username%))";
    let any = "(&(objectClass=user)(sAMAccountName=%username%))";
    let down = format!("ldap://127.0.0.1:{}", free_port());
    let file = serde_json::json!({
        "cache_size": 10,
        "configs": [
            entry(only_bob, &[slapd.url()]),
            entry(any, &[down]),
            entry(any, &[slapd.url()]),
        ]
    });
    let file = ConfigFile::parse(&file.to_string()).unwrap();
    assert_eq!(file.cache_size, 10);
    let list: Vec<Authenticator> = file
        .configs
        .into_iter()
        .map(|s| Authenticator::new(s).unwrap())
        .collect();
    let dirs = Directories::new(list, file.cache_size);
    assert_eq!(dirs.order("alice"), [0, 1, 2]);
    // Alice: not in 0, 1 is down, 2 accepts.
    dirs.check_password("alice", ALICE_PW, NEW).await.unwrap();
    assert_eq!(dirs.last_good("alice"), Some(2));
    assert_eq!(dirs.order("alice"), [2, 0, 1]);
    // Bob: 0 accepts.
    dirs.check_password("bob", BOB_PW, b"").await.unwrap();
    assert_eq!(dirs.order("bob"), [0, 1, 2]);
    // All fail: the last error comes back (directory 2: wrong password).
    let err = dirs
        .check_password("alice", "wrong", NEW)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AuthError::Unavailable(_) | AuthError::BindRefused { .. }
        ),
        "{err}"
    );
    let err = dirs.check_password("nobody", "x", NEW).await.unwrap_err();
    assert_eq!(err, AuthError::UserNotFound("nobody".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_checks_on_borrow_and_stays_bounded() {
    use plexus_auth_ldap::connect::Dialer;
    use plexus_auth_ldap::pool::{Connection, Pool};
    use plexus_auth_ldap::tls::client_config;

    let mut slapd = Slapd::start().await;
    let url: Arc<str> = Arc::from(slapd.url());
    let dialer = Arc::new(Dialer::new(
        client_config(&[], false, "ca").unwrap(),
        false,
        false,
        Duration::from_secs(5),
    ));
    let open = || {
        let (dialer, url) = (dialer.clone(), url.clone());
        async move {
            let ldap = dialer.dial(&url).await.map_err(AuthError::Unavailable)?;
            Ok(Connection { ldap, url })
        }
    };
    // Every idle connection is probed (WhoAmI) before it is lent again.
    let pool = Pool::new("test", 1, Duration::from_millis(200)).with_check_after(Duration::ZERO);
    let lease = pool.get(open).await.unwrap();
    assert!(!lease.reused);
    // Bounded: the only slot is taken, a second borrower gives up.
    let err = pool.get(open).await.err().expect("the pool has one slot");
    assert!(err.to_string().contains("stayed busy"), "{err}");
    lease.release();
    let lease = pool.get(open).await.unwrap();
    assert!(lease.reused, "a live connection passes the check");
    lease.release();
    assert_eq!(pool.idle_count(), 1);
    // The server goes away: the idle connection fails the check and a new
    // one is dialled (and fails, the server being down).
    slapd.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(matches!(
        pool.get(open).await.err(),
        Some(AuthError::Unavailable(_))
    ));
    assert_eq!(pool.idle_count(), 0);
    slapd.restart();
    assert!(!pool.get(open).await.unwrap().reused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_pool_multiplexes_checks_on_borrow_and_stays_bounded() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use ldap3::exop::WhoAmI;
    use plexus_auth_ldap::connect::Dialer;
    use plexus_auth_ldap::pool::{Connection, SharedPool, PER_CONNECTION};
    use plexus_auth_ldap::tls::client_config;

    let mut slapd = Slapd::start().await;
    let url: Arc<str> = Arc::from(slapd.url());
    let dialer = Arc::new(Dialer::new(
        client_config(&[], false, "ca").unwrap(),
        false,
        false,
        Duration::from_secs(5),
    ));
    let dials = Arc::new(AtomicUsize::new(0));
    let open = || {
        let (dialer, url, dials) = (dialer.clone(), url.clone(), dials.clone());
        async move {
            dials.fetch_add(1, Ordering::SeqCst);
            let ldap = dialer.dial(&url).await.map_err(AuthError::Unavailable)?;
            Ok(Connection { ldap, url })
        }
    };
    let pool =
        SharedPool::new("test", 1, Duration::from_millis(200)).with_check_after(Duration::ZERO);
    // One connection carries PER_CONNECTION operations at once.
    let mut shares = Vec::new();
    for _ in 0..PER_CONNECTION {
        shares.push(pool.get(open).await.unwrap());
    }
    assert_eq!(dials.load(Ordering::SeqCst), 1);
    assert_eq!(pool.open_count(), 1);
    let answers =
        futures::future::join_all(shares.iter_mut().map(|s| s.ldap().extended(WhoAmI))).await;
    for answer in answers {
        assert_eq!(answer.expect("WhoAmI on a shared connection").1.rc, 0);
    }
    // Bounded: the connection is full and the pool has one, so a further
    // borrower gives up.
    let err = pool.get(open).await.err().expect("the pool is full");
    assert!(err.to_string().contains("stayed busy"), "{err}");
    drop(shares);
    // Idle again: probed (WhoAmI) and lent.
    let share = pool.get(open).await.unwrap();
    assert!(share.reused, "a live connection passes the check");
    drop(share);
    // The server goes away: the connection is dropped and a new one is
    // dialled (and fails, the server being down).
    slapd.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(matches!(
        pool.get(open).await.err(),
        Some(AuthError::Unavailable(_))
    ));
    assert_eq!(pool.open_count(), 0);
    slapd.restart();
    let share = pool.get(open).await.unwrap();
    assert!(!share.reused);
    // A share that saw a transport error takes its connection out.
    share.discard();
    assert_eq!(pool.open_count(), 0);
}
