// Package bus carries actor messages between goray processes over NATS. A
// [Node] joins an [actor.System] to the bus: it runs an embedded NATS
// server (or connects to an existing NATS), receives the envelopes
// addressed to its actors, sends its actors' messages to other nodes, and
// tracks which nodes are alive. Once a node is started, Send, Request,
// Watch, Unwatch, Stop and Poison work the same for a PID of any node.
//
// This package knows nothing of tasks, objects or scheduling; those
// layers use it.
//
// # Connecting
//
// [Config] chooses one of four ways to reach NATS:
//
//  1. Embedded, in-process only (the default): the node's own server has
//     no network listener at all; only this process can use it.
//  2. Embedded and listening: Listen "127.0.0.1:4222" accepts other
//     processes of this node. The cluster token is required (Token, or
//     TokenFile, created 0600 with a random token when missing).
//  3. Embedded and clustered: ClusterListen accepts routes from other
//     nodes' servers, and Routes lists a few of them as seeds; the servers
//     gossip and build the full mesh themselves. Routes authenticate with
//     the same token. Set TLS for links that leave the host.
//  4. External: URL points at an existing NATS deployment, with a token,
//     user and password, an nkey seed file, or TLS.
//
// MaxPayload is raised on the embedded server to the transfer chunk size
// (8 MiB by default) and must be equal on every node; nodes announce
// theirs and log a mismatch.
//
// # Subjects
//
// Every subject of a cluster starts with "goray.<cluster>.":
//
//	goray.<cluster>.n.<node>.in             the node's inbox: batches of actor envelopes
//	goray.<cluster>.n.<node>.ack.<inc>.<peer>  flow-control acknowledgements from peer
//	goray.<cluster>.n.<node>.<service>      per-node services (raylet, object store)
//	goray.<cluster>.hb.<node>               heartbeats (node, incarnation, MaxPayload, leaving)
//	goray.<cluster>.svc.<name>              cluster services, queue groups (the GCS)
//	goray.<cluster>.ev.<topic>              cluster events (node up/down, actor state, ...)
//
// [Subjects] builds them. Node and cluster names are single subject
// tokens: letters, digits, '-' and '_'.
//
// # Wire
//
// A NATS message on an inbox is a batch: a CBOR sequence of envelopes,
// ending with a flow envelope that carries the sending link's byte offset.
// An envelope is a CBOR map with integer keys carrying the target PID, the
// sender PID (or, for a request, the request id its reply must name), the
// registered type name of the body, and the body itself as a byte string;
// signals (watch, unwatch, stop, poison, terminated) and remote request
// failures travel as envelopes without a body. The envelope is encoded and
// decoded by hand; bodies by fxamacker/cbor with fixed modes and decode
// limits (nesting 16, 64 Ki array items and map pairs, bodies at most
// MaxMessageBytes), or by the type itself when it implements [Appender]
// and cbor.Unmarshaler (see [AppendMap] and [Decoder]).
//
// Message types are registered once, under a name every node agrees on,
// with [Register]. Sending an unregistered type fails that send with
// [ErrUnregisteredType]; nothing else is affected. An incoming batch that
// is malformed, a body that is too large or of an unknown type is counted
// ([Node.Stats]), logged at most once a second per kind, and handed to
// dead letters as [Undecodable]; a request it carried fails at once with a
// [RemoteError]. A node never stops serving because of its input.
//
// # Delivery
//
// Sends are at-most-once and ordered per sender–receiver pair: all
// envelopes from one node to another go through one batch, one publisher
// and one NATS connection, in order. A message can be lost when a node
// dies or a link is cut; it is never duplicated or reordered.
//
// Requests make failures visible: a request fails with ErrDeadLetter (no
// such actor there), [ErrUnknownType], [ErrMalformed] or [ErrTooLarge]
// when the far side cannot deliver it, with [ErrNodeDown] when its node
// goes away or is never heard from, and with its own timeout otherwise.
//
// Envelopes to a node are batched: the first envelope of an empty batch
// wakes the link's flusher, which publishes whatever has built up by then
// (up to FlushBytes, beyond which the sender publishes). A link keeps at
// most twice MaxPayload unacknowledged bytes in flight; the receiver
// acknowledges the offsets it has handled, so a fast sender waits for a
// slow receiver instead of overflowing NATS's buffers. The window bounds
// NATS's buffers, not mailboxes: an unbounded mailbox of a slow actor
// still grows.
//
// A message from another node that meets a full bounded mailbox is
// dropped to dead letters rather than stalling the whole inbox.
//
// # Liveness
//
// Every node publishes a heartbeat each HeartbeatInterval (500 ms) on a
// connection of its own, so that congestion cannot delay it. A peer silent
// for NodeTimeout (2 s) is down; a node that closes says so and is down at
// once (its pending requests get 250 ms for replies still on the way); a
// node that restarts under the same name is a new incarnation, and the old
// one is down. When a peer goes down, watchers of its actors get
// actor.Terminated with actor.ReasonNodeDown and pending requests to it
// fail with a [NodeDownError]. A node that comes back is simply alive
// again: watches that ended stay ended.
//
// # Remote spawn
//
// [RegisterKind] names an actor kind at init time; [Node.SpawnOn] starts
// one on another node (under that node's root guardian) and returns its
// PID.
package bus
