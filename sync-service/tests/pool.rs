//! The service's database pool (decisions #96): every statement is planned for its own
//! parameters, so a plan cached while the links table was small never outlives its growth.

#[tokio::test]
async fn the_services_pool_plans_each_statement_for_its_own_parameters() -> anyhow::Result<()> {
    let database = test_support::fresh_database().await?;
    let pool = sync_service::startup::connect(&database).await?;
    for _ in 0..3 {
        // Every connection of the pool, not only the first.
        let mut connections = Vec::new();
        for _ in 0..3 {
            connections.push(pool.acquire().await?);
        }
        for connection in &mut connections {
            let (mode,): (String,) = sqlx::query_as("SHOW plan_cache_mode")
                .fetch_one(&mut **connection)
                .await?;
            assert_eq!(mode, "force_custom_plan");
            let (path,): (String,) = sqlx::query_as("SHOW search_path")
                .fetch_one(&mut **connection)
                .await?;
            assert_eq!(path, sync_service::startup::SCHEMA, "the service's schema");
        }
    }
    pool.close().await;
    Ok(())
}
