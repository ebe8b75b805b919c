//! The names of the services' metrics that dashboards and alarms refer to, in one
//! place: the services record under these names, `/metrics` shows them to Prometheus, the EMF lines carry them to
//! CloudWatch ([`crate::emf`]; labels other than dimensions become part of the name, see
//! [`crate::emf::series_name`]), and the provisioner's dashboard and alarms refer to them
//! (its tests compare against this module).

/// Every service: requests by method, route and status.
pub const HTTP_REQUESTS: &str = "http_requests_total";
/// Every service: request duration by method, route and status (seconds).
pub const HTTP_REQUEST_DURATION: &str = "http_request_duration_seconds";
/// Every service with readiness checks: 1 when the named dependency (label
/// `dependency`) answered its last check, 0 when not.
pub const DEPENDENCY_UP: &str = "dependency_up";
/// Every service with readiness checks: failed checks of a dependency (label
/// `dependency`; the label-less total in CloudWatch counts all dependencies).
pub const DEPENDENCY_FAILURES: &str = "dependency_check_failures_total";
/// The label naming the dependency in [`DEPENDENCY_UP`] and [`DEPENDENCY_FAILURES`].
pub const DEPENDENCY_LABEL: &str = "dependency";

/// vote: votes accepted into the queue (label `vote`: the option).
pub const VOTES_QUEUED: &str = "votes_queued_total";
/// worker: votes written to Postgres.
pub const VOTES_PROCESSED: &str = "votes_processed_total";
/// worker: time to write one batch to Postgres (seconds).
pub const VOTES_DB_WRITE_DURATION: &str = "votes_db_write_duration_seconds";
/// worker: entries waiting in the queue or claimed and not yet acknowledged
/// (dimension `Queue`).
pub const QUEUE_DEPTH: &str = "QueueDepth";
/// worker: seconds the oldest entry of the queue has been waiting (dimension `Queue`).
pub const QUEUE_OLDEST_AGE: &str = "QueueOldestAgeSeconds";
/// result: connected socket.io clients.
pub const RESULT_SOCKET_CLIENTS: &str = "result_socket_clients";

/// orders: orders created.
pub const ORDERS_CREATED: &str = "orders_created_total";
/// orders: orders refused (label `reason`).
pub const ORDERS_REJECTED: &str = "orders_rejected_total";
/// products: cache lookups (label `result`: hit, miss, error).
pub const PRODUCTS_CACHE: &str = "products_cache_total";

/// sums api: sums computed.
pub const SUMS_COMPUTED: &str = "sums_computed_total";
/// sums api: time to compute one sum (seconds).
pub const SUMS_COMPUTE_DURATION: &str = "sums_compute_duration_seconds";
