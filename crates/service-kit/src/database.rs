//! Postgres: one database, one schema per service. The pool sets `search_path` on every
//! connection, so a service's unqualified SQL and its `_sqlx_migrations` table live in its own
//! schema and no service can read another's tables by accident.

use std::str::FromStr;

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::settings::DatabaseSettings;
use crate::wait::until_reachable;

/// Creates the schema if needed, then returns a pool whose connections use it. Waits for
/// Postgres to answer as long as `settings.wait` allows.
pub async fn connect(settings: &DatabaseSettings, schema: &str) -> anyhow::Result<PgPool> {
    let base = PgConnectOptions::from_str(settings.url.expose_secret())
        .context("the database URL is invalid")?
        .application_name(schema)
        .log_statements(tracing::log::LevelFilter::Debug);

    let what = describe(&base);
    let mut conn = until_reachable(&what, settings.wait, || base.connect(), curable)
        .await
        .with_context(|| format!("cannot reach {what}"))?;
    // Schema names come from code, never from input; quoting keeps dashes legal.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
    )))
    .execute(&mut conn)
    .await
    .or_else(ignore_concurrent_create)?;
    conn.close().await?;

    let options = base.options([("search_path", schema)]);
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect_with(options)
        .await
        .context("cannot open the database pool")?;
    Ok(pool)
}

/// "Postgres at host:port/database": where, never who or with which password.
fn describe(options: &PgConnectOptions) -> String {
    format!(
        "Postgres at {}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("(default database)")
    )
}

/// Whether waiting can cure a failed connection: nothing listening (yet), a server starting or
/// shutting down, or one out of connection slots. A refused password, an unknown database or a
/// TLS misconfiguration cannot be: they fail the start at once.
fn curable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        // cannot_connect_now (starting up, shutting down, in recovery), too_many_connections,
        // connection_failure, sqlclient_unable_to_establish_sqlconnection.
        sqlx::Error::Database(db) => matches!(
            db.code().as_deref(),
            Some("57P03" | "53300" | "08006" | "08001")
        ),
        _ => false,
    }
}

/// Two services starting at once may race on `CREATE SCHEMA IF NOT EXISTS` (a known Postgres
/// behaviour: the catalog's unique index fires before the IF NOT EXISTS check sees the row).
fn ignore_concurrent_create(
    err: sqlx::Error,
) -> Result<sqlx::postgres::PgQueryResult, sqlx::Error> {
    match &err {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            Ok(Default::default())
        }
        _ => Err(err),
    }
}

/// Runs the service's embedded migrations in its schema.
pub async fn migrate(pool: &PgPool, migrator: &Migrator) -> anyhow::Result<()> {
    migrator
        .run(pool)
        .await
        .context("database migrations failed")?;
    Ok(())
}

/// Whether `err` (or its cause) says the database is unreachable or busy rather than that this
/// piece of work is wrong: no connection, a pool out of connections, a server shutting down or
/// out of slots, a serialisation failure or deadlock. Such work is retried as it is; any other
/// failure belongs to the work itself.
pub fn is_outage(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<sqlx::Error>())
        .any(|e| match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                code.starts_with("08")
                    || matches!(
                        code.as_ref(),
                        "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01"
                    )
            }),
            _ => false,
        })
}

#[cfg(test)]
mod outage_tests {
    use super::*;

    #[test]
    fn a_lost_connection_is_an_outage_and_a_broken_rule_is_not() {
        let lost = anyhow::Error::from(sqlx::Error::PoolTimedOut).context("saving the link");
        assert!(is_outage(&lost));
        let io = anyhow::Error::from(sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert!(is_outage(&io));
        assert!(!is_outage(&anyhow::anyhow!("the engine refused the input")));
        assert!(!is_outage(&anyhow::Error::from(sqlx::Error::RowNotFound)));
    }
}
