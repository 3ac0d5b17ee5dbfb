//! The faults game servers meet, injected for real: an embedding provider that
//! answers 503, hangs or refuses connections; a Postgres that stops and comes
//! back; a `mnemo serve` killed with SIGKILL under concurrent writes; two
//! servers writing to one SQLite directory. Each asserts the service's
//! promises: nothing acknowledged is lost, no request the NPC waits for stalls,
//! and the service recovers by itself.

mod provider;
