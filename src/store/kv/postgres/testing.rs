//! Throw-away databases for tests (the conformance suite, the integration tests' servers).
//! Not used by the server itself.

use std::sync::atomic::{AtomicU32, Ordering};

use super::{KvError, describe};

/// Creates a fresh, empty database through `admin_url` (a role that may create
/// databases) and returns the URL of the new database.
pub fn create_test_database(admin_url: &str) -> Result<String, KvError> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let name = format!("xinshi_test_{}_{}_{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    admin(admin_url, format!("CREATE DATABASE {name}"))?;
    Ok(with_database(admin_url, &name))
}

/// Drops the database of `url` (made by [`create_test_database`]), closing what is still
/// connected to it.
pub fn drop_test_database(admin_url: &str, url: &str) -> Result<(), KvError> {
    let config: tokio_postgres::Config = url.parse().map_err(|e| KvError::Engine(format!("{e}")))?;
    let name = config.get_dbname().unwrap_or_default().to_owned();
    if !name.starts_with("xinshi_test_") {
        return Err(KvError::Engine(format!("not a test database: {name}")));
    }
    admin(admin_url, format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
}

/// Closes every connection to the database of `url`, as a PostgreSQL restart would.
#[cfg(test)]
pub fn terminate_connections(admin_url: &str, url: &str) -> Result<(), KvError> {
    let config: tokio_postgres::Config = url.parse().map_err(|e| KvError::Engine(format!("{e}")))?;
    let name = config.get_dbname().unwrap_or_default();
    admin(admin_url, format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
}

/// `admin_url` with its database replaced by `name`.
fn with_database(admin_url: &str, name: &str) -> String {
    let Some((scheme, rest)) = admin_url.split_once("://") else {
        return format!("{admin_url} dbname={name}");
    };
    let (before_query, query) = rest.split_once('?').map_or((rest, None), |(a, q)| (a, Some(q)));
    let authority = before_query.split_once('/').map_or(before_query, |(a, _)| a);
    match query {
        Some(query) => format!("{scheme}://{authority}/{name}?{query}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

/// Runs `sql` on its own connection, on a thread of its own (callers may be inside a
/// tokio runtime).
fn admin(admin_url: &str, sql: String) -> Result<(), KvError> {
    let url = admin_url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        runtime.block_on(async move {
            let (client, connection) =
                tokio_postgres::connect(&url, tokio_postgres::NoTls).await.map_err(|e| describe(&e))?;
            let connection = tokio::spawn(connection);
            let result = client.batch_execute(&sql).await.map_err(|e| describe(&e));
            drop(client);
            let _ = connection.await;
            result
        })
    })
    .join()
    .map_err(|_| KvError::Engine("the admin thread panicked".into()))?
    .map_err(|e| KvError::Engine(format!("postgres admin: {e}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(super::with_database("postgres://u@h:5/postgres", "x"), "postgres://u@h:5/x");
        assert_eq!(super::with_database("postgres://u@h:5", "x"), "postgres://u@h:5/x");
        assert_eq!(super::with_database("postgresql://h/db?sslmode=disable", "x"), "postgresql://h/x?sslmode=disable");
        assert_eq!(super::with_database("host=h user=u", "x"), "host=h user=u dbname=x");
    }
}
