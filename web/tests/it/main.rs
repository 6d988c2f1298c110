//! `web` against stub services.
