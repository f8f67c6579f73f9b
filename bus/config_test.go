package bus

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigDefaults(t *testing.T) {
	c, err := Config{Node: "a"}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, DefaultCluster, c.Cluster)
	assert.Equal(t, "a", c.Node)
	assert.Equal(t, DefaultMaxPayload, c.MaxPayload)
	assert.Equal(t, DefaultMaxMessageBytes, c.MaxMessageBytes)
	assert.Equal(t, DefaultFlushBytes, c.FlushBytes)
	assert.Equal(t, DefaultHeartbeatInterval, c.HeartbeatInterval)
	assert.Equal(t, DefaultNodeTimeout, c.NodeTimeout)
	assert.Same(t, slog.Default(), c.Logger)
	assert.Empty(t, c.Listen)
	assert.False(t, c.listens())
}

func TestConfigDefaultsFollowOtherFields(t *testing.T) {
	// A small MaxPayload shrinks the message and flush defaults with it.
	c, err := Config{Node: "a", MaxPayload: 64 << 10}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, 64<<10-envelopeRoom, c.MaxMessageBytes)
	assert.Equal(t, 32<<10, c.FlushBytes)

	// A slow heartbeat lengthens the default timeout.
	c, err = Config{Node: "a", HeartbeatInterval: 2 * time.Second}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, 6*time.Second, c.NodeTimeout)

	// Values given are kept.
	logger := slog.New(slog.DiscardHandler)
	in := Config{
		Cluster: "prod", Node: "n-1_x", MaxPayload: 1 << 20, MaxMessageBytes: 1000, FlushBytes: 2000,
		HeartbeatInterval: 50 * time.Millisecond, NodeTimeout: 100 * time.Millisecond, Logger: logger,
	}
	c, err = in.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, in, c)
}

func TestConfigValid(t *testing.T) {
	for name, c := range map[string]Config{
		"embedded":              {Node: "a"},
		"listen":                {Node: "a", Listen: "127.0.0.1:0", Token: "t"},
		"listen ipv6":           {Node: "a", Listen: "[::1]:4222"},
		"listen any host":       {Node: "a", Listen: ":4222"},
		"cluster":               {Node: "a", ClusterListen: "127.0.0.1:0", Routes: []string{"nats-route://127.0.0.1:6222"}},
		"url":                   {Node: "a", URL: "nats://127.0.0.1:4222"},
		"url token":             {Node: "a", URL: "nats://x", Token: "t"},
		"url token and file":    {Node: "a", URL: "nats://x", Token: "t", TokenFile: "/f"},
		"url user":              {Node: "a", URL: "nats://x", User: "u", Password: "p"},
		"url nkey":              {Node: "a", URL: "nats://x", NKeySeedFile: "/seed"},
		"payload bounds low":    {Node: "a", MaxPayload: 64 << 10},
		"payload bounds high":   {Node: "a", MaxPayload: natsMaxPending},
		"message at the limit":  {Node: "a", MaxPayload: 1 << 20, MaxMessageBytes: 1<<20 - envelopeRoom},
		"flush at the limit":    {Node: "a", MaxPayload: 1 << 20, FlushBytes: 1 << 20},
		"timeout exactly twice": {Node: "a", HeartbeatInterval: time.Second, NodeTimeout: 2 * time.Second},
		"heartbeat 10ms":        {Node: "a", HeartbeatInterval: 10 * time.Millisecond},
		"names":                 {Cluster: "Prod_2-eu", Node: "node-01_A"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.withDefaults()
			assert.NoError(t, err)
		})
	}
}

func TestConfigInvalid(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		msg  string // a part of the error message
	}{
		{"empty node", Config{}, "node name is empty"},
		{"node dot", Config{Node: "a.b"}, `'.'`},
		{"node star", Config{Node: "*"}, `'*'`},
		{"node gt", Config{Node: ">"}, `'>'`},
		{"node space", Config{Node: "a b"}, `' '`},
		{"node tab", Config{Node: "a\tb"}, "not allowed"},
		{"node slash", Config{Node: "a/b"}, "not allowed"},
		{"node non-ASCII", Config{Node: "nodé"}, "not allowed"},
		{"cluster dot", Config{Node: "a", Cluster: "."}, `cluster name "."`},
		{"cluster star", Config{Node: "a", Cluster: "*"}, "cluster"},
		{"cluster gt", Config{Node: "a", Cluster: "x>"}, "cluster"},
		{"cluster space", Config{Node: "a", Cluster: " "}, "cluster"},
		{"payload too small", Config{Node: "a", MaxPayload: 64<<10 - 1}, "MaxPayload"},
		{"payload negative", Config{Node: "a", MaxPayload: -1}, "MaxPayload"},
		{"payload too big", Config{Node: "a", MaxPayload: natsMaxPending + 1}, "MaxPayload"},
		{"message too big", Config{Node: "a", MaxPayload: 1 << 20, MaxMessageBytes: 1<<20 - envelopeRoom + 1}, "MaxMessageBytes"},
		{"message as big as payload", Config{Node: "a", MaxMessageBytes: DefaultMaxPayload}, "MaxMessageBytes"},
		{"message negative", Config{Node: "a", MaxMessageBytes: -1}, "MaxMessageBytes"},
		{"flush too big", Config{Node: "a", MaxPayload: 1 << 20, FlushBytes: 1<<20 + 1}, "FlushBytes"},
		{"flush negative", Config{Node: "a", FlushBytes: -1}, "FlushBytes"},
		{"heartbeat too fast", Config{Node: "a", HeartbeatInterval: 9 * time.Millisecond}, "HeartbeatInterval"},
		{"heartbeat negative", Config{Node: "a", HeartbeatInterval: -time.Second}, "HeartbeatInterval"},
		{"timeout below twice", Config{Node: "a", HeartbeatInterval: time.Second, NodeTimeout: 2*time.Second - 1}, "NodeTimeout"},
		{"timeout negative", Config{Node: "a", NodeTimeout: -1}, "NodeTimeout"},
		{"url and listen", Config{Node: "a", URL: "nats://x", Listen: "127.0.0.1:0"}, "URL"},
		{"url and cluster listen", Config{Node: "a", URL: "nats://x", ClusterListen: "127.0.0.1:0"}, "URL"},
		{"url and routes", Config{Node: "a", URL: "nats://x", Routes: []string{"nats-route://h:1"}}, "URL"},
		{"url token and user", Config{Node: "a", URL: "nats://x", Token: "t", User: "u"}, "at most one"},
		{"url token file and nkey", Config{Node: "a", URL: "nats://x", TokenFile: "/f", NKeySeedFile: "/s"}, "at most one"},
		{"url user and nkey", Config{Node: "a", URL: "nats://x", User: "u", NKeySeedFile: "/s"}, "at most one"},
		{"url all three", Config{Node: "a", URL: "nats://x", Token: "t", User: "u", NKeySeedFile: "/s"}, "at most one"},
		{"user with embedded server", Config{Node: "a", User: "u", Password: "p"}, "User/Password"},
		{"nkey with embedded server", Config{Node: "a", NKeySeedFile: "/s"}, "NKeySeedFile"},
		{"routes without cluster listen", Config{Node: "a", Routes: []string{"nats-route://h:1"}}, "Routes need ClusterListen"},
		{"routes with listen only", Config{Node: "a", Listen: "127.0.0.1:0", Routes: []string{"nats-route://h:1"}}, "Routes need ClusterListen"},
		{"listen without port", Config{Node: "a", Listen: "127.0.0.1"}, "Listen"},
		{"listen garbage", Config{Node: "a", Listen: "::::"}, "Listen"},
		{"cluster listen without port", Config{Node: "a", ClusterListen: "localhost"}, "ClusterListen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.c.withDefaults()
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrConfig)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestConfigCheckToken(t *testing.T) {
	for _, s := range []string{"a", "A", "0", "-", "_", "abc-DEF_123"} {
		assert.NoError(t, checkToken("node", s), "%q", s)
	}
	for _, s := range []string{"", ".", "*", ">", " ", "a.b", "a*", "a>", "a b", "\x00", "é", "a\n", "$x", "a:b"} {
		err := checkToken("node", s)
		assert.ErrorIs(t, err, ErrConfig, "%q", s)
	}
}
