// Package raylet is the per-node actor of a goray cluster: it registers
// its node with the GCS (resources, labels, the actor kinds this binary
// registered), answers the GCS's health checks, reports what resources
// are free whenever that changes, and hosts the actors the GCS places on
// it.
//
// Each hosted actor runs under a keeper of its own, a supervisor that
// applies the actor's restart policy: a crash restarts the actor in place
// while restarts remain (the raylet reports each restart), and past the
// limit the actor stops and the raylet reports it dead. A request whose
// handling crashed the actor is answered with CallFailed, so its caller
// learns at once.
//
// A raylet that the GCS declares dead (it says so, or answers the
// NodeHello a node sends when health checks stop coming) stops its
// actors, which already run elsewhere or are dead, and registers anew
// under a new node id. While a node is cut off its copies keep running,
// unreachable from the rest of the cluster; once it can reach the GCS
// again they stop, so the GCS's tables keep one copy of each actor.
//
// This package knows the GCS's protocol, the bus and the actor runtime;
// it knows nothing of the user API.
package raylet
