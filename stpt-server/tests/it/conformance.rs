//! The Store conformance suite from stpt-core, run on both diesel backends.

mod sqlite {
    stpt_core::store_conformance_tests!(crate::support::TestDb::sqlite());
}

mod postgres {
    stpt_core::store_conformance_tests!(
        crate::support::TestDb::postgres(),
        #[cfg_attr(not(stpt_postgres_tests), ignore = "set STPT_TEST_POSTGRES_URL to run PostgreSQL tests")]
    );
}
