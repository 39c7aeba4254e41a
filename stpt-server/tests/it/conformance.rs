//! The Store conformance suite from stpt-core, run on both diesel backends.

mod sqlite {
    stpt_core::store_conformance_tests!(Some(crate::support::TestDb::sqlite()));
}

mod postgres {
    stpt_core::store_conformance_tests!(crate::support::TestDb::postgres());
}
