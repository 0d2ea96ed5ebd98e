//! Contract suites for [`Storage`](crate::Storage) and [`Mailer`](crate::Mailer)
//! implementations (feature `testing`). Not API-stable: cases are added as rules are.
