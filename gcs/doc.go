// Package gcs is goray's global control service: one actor on the head
// node that keeps the cluster's tables and makes the cluster-wide
// decisions.
//
// # Tables
//
// Nodes (id, bus name, address, labels, resources total and available,
// state, last seen, role), actors (id, spec, state PENDING_CREATION →
// ALIVE → RESTARTING → DEAD, node, PID, restarts used, death cause), named
// actors per namespace (derived from the actor table), jobs (id, driver
// node, namespace, state, start and end) and an internal KV (namespace,
// key → bytes).
//
// The tables live in the actor's memory, and every change is written
// through to a JetStream key-value bucket, asynchronously and in order: a
// reply that reveals a change is sent only once the change is stored, so
// what a caller was told survives a crash of the head. A GCS started on
// the same storage directory reads the bucket back, counts a new epoch,
// and carries on: raylets that see the new epoch in a health check list
// their actors (Resync), and the GCS reconciles. JetStream runs on a small
// server of its own inside the head's process, with no listener, so that
// the cluster's routed NATS servers stay out of JetStream clustering.
//
// # Health
//
// Every HealthPeriod (1 s) the GCS asks each live raylet for its node id;
// a check not answered within 4/5 of the period is a miss, and
// HealthThreshold (5) misses in a row make the node DEAD. A node that
// answers with another id (its process started again) is dead at once. A
// dead node's id is never reused: a raylet that learns it was declared
// dead stops its actors and registers anew under a new id.
//
// # Actors
//
// CreateActor places an actor on a live node that knows its kind and has
// room for its resources: the creator's node while it is under half full,
// else the least used (Ray's hybrid policy). An actor no live node could
// ever hold fails with ErrInfeasible; one that fits only later waits as
// PENDING_CREATION and shows in GetStatus. When a node dies its actors
// restart elsewhere while MaxRestarts allows, else they are DEAD with
// cause "node died (…)". Crashes are restarted in place by the node's
// raylet, which reports each one. Actors that are not detached die with
// their job.
//
// # Events
//
// Every change is published on Subjects.Event(TopicNodes, TopicActors,
// TopicResources, TopicJobs) as a CBOR Event, for components and tools.
//
// This package knows the bus and the actor runtime; it knows nothing of
// the object store, of tasks or of the user API built on top of it.
package gcs
