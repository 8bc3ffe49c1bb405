//! TLS to PostgreSQL against the CI's private cluster, which `ci/start-postgres.sh` starts with
//! TLS on: a throw-away CA (named by the URL's `sslrootcert`) and a server certificate for
//! `localhost` only. `verify-full` to `localhost` is encrypted and checked; to `127.0.0.1` the
//! name does not match and the connection is refused, where `verify-ca` accepts it; another
//! CA is refused; `require` encrypts unchecked; `disable` is plain. The pool (`Store`) uses the
//! same connector. Runs where the PostgreSQL tests run (a failure under `CI=true` if the URL
//! names no CA).

mod common;

use back_office::db::Store;

/// The test cluster's URL split into its base (no query) and the CA file.
fn cluster() -> Option<(String, String)> {
    let url = common::pg_url()?;
    let t = back_office::pg_tls::split_url(&url).unwrap();
    let Some(ca) = t.root_cert else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but KIOSK_TEST_DATABASE_URL names no sslrootcert: start the cluster with ci/start-postgres.sh"
        );
        eprintln!("TLS part skipped: KIOSK_TEST_DATABASE_URL names no sslrootcert");
        return None;
    };
    let base = url.split('?').next().unwrap().to_string();
    Some((base, ca.display().to_string()))
}

/// Whether the connection of `url` is encrypted (as the server sees it).
async fn encrypted(url: &str) -> Result<bool, String> {
    let c = back_office::pg_tls::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    let row = c
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get::<_, bool>(0))
}

#[tokio::test]
async fn sslmodes_encrypt_and_check_as_libpq_does() {
    let Some((base, ca)) = cluster() else { return };
    let localhost = base.replace("127.0.0.1", "localhost");
    assert!(localhost.contains("@localhost:"), "{localhost}");

    let full = format!("{localhost}?sslmode=verify-full&sslrootcert={ca}");
    assert_eq!(
        encrypted(&full).await,
        Ok(true),
        "verify-full to the certificate's name"
    );

    let wrong_name = format!("{base}?sslmode=verify-full&sslrootcert={ca}");
    let e = encrypted(&wrong_name).await.unwrap_err();
    assert!(
        e.contains("TLS") && e.contains("not valid for name \"127.0.0.1\""),
        "{e}"
    );

    let ca_only = format!("{base}?sslmode=verify-ca&sslrootcert={ca}");
    assert_eq!(
        encrypted(&ca_only).await,
        Ok(true),
        "verify-ca ignores the name"
    );

    // A CA that did not sign the server's certificate.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-ca.pem");
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    std::fs::write(&other, params.self_signed(&key).unwrap().pem()).unwrap();
    let stranger = format!(
        "{localhost}?sslmode=verify-full&sslrootcert={}",
        other.display()
    );
    let e = encrypted(&stranger).await.unwrap_err();
    assert!(e.contains("invalid peer certificate: UnknownIssuer"), "{e}");

    assert_eq!(
        encrypted(&format!("{base}?sslmode=require")).await,
        Ok(true),
        "require: encrypted, not checked"
    );
    assert_eq!(
        encrypted(&format!("{base}?sslmode=prefer")).await,
        Ok(true),
        "prefer: the server offers TLS"
    );
    assert_eq!(
        encrypted(&format!("{base}?sslmode=disable")).await,
        Ok(false)
    );

    let e = back_office::pg_tls::connect(&format!("{base}?sslmode=allow"))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("sslmode=\"allow\""), "{e}");
}

/// The store's pool over verify-full: the schema is created, a terminal registered and read
/// back, every pooled connection encrypted.
#[tokio::test]
async fn the_store_works_over_verified_tls() {
    let Some((base, ca)) = cluster() else { return };
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={ca}",
        base.replace("127.0.0.1", "localhost")
    );
    let schema = format!("tls_{}_{}", std::process::id(), rand::random::<u32>());
    let store = Store::open_postgres(&url, Some(&schema)).await.unwrap();
    common::add_terminal(&store, "TLS1").await;
    let (n, ssl) = store
        .read(|sql| -> Result<(i64, i64), back_office::StoreError> {
            let n = sql
                .query_one(
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM terminals WHERE id = 'TLS1'",
                    &[],
                )?
                .map_or(0, |r| r.int(0));
            let ssl = sql
                .query_one(
                    "SELECT CAST(CASE WHEN ssl THEN 1 ELSE 0 END AS BIGINT) FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    &[],
                )?
                .map_or(0, |r| r.int(0));
            Ok((n, ssl))
        })
        .await
        .unwrap();
    assert_eq!((n, ssl), (1, 1));
    let wrong = Store::open_postgres(
        &format!("{base}?sslmode=verify-full&sslrootcert={ca}"),
        Some(&schema),
    )
    .await;
    let e = wrong.err().expect("refused").to_string();
    assert!(e.contains("not valid for name"), "{e}");
}
