package bus_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
)

// testTLS makes a self-signed certificate for 127.0.0.1 and a config
// that both serves it and trusts it, as every node of a small cluster
// sharing one certificate would use.
func testTLS(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "goray test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		RootCAs:      pool,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}
}

// Two nodes whose client and route listeners require TLS: they join and
// talk, a node connecting as a client over TLS works, and a plain-text
// client is refused.
func TestTLSClusterAndClients(t *testing.T) {
	conf := testTLS(t)
	tok := bus.NewToken()
	a := startNode(t, bus.Config{Node: "a", Token: tok, TLS: conf, Listen: "127.0.0.1:0", ClusterListen: "127.0.0.1:0"})
	a.sys.SpawnNamed(actor.PropsFromFunc(echo), "echo")
	b := startNode(t, bus.Config{Node: "b", Token: tok, TLS: conf, ClusterListen: "127.0.0.1:0", Routes: []string{a.node.ClusterURL()}})
	c := startNode(t, bus.Config{Node: "c", Token: tok, TLS: conf, URL: a.node.ClientURL()})
	for _, n := range []*testNode{b, c} {
		require.NoError(t, n.node.WaitForNode(ctxTimeout(t, 10*time.Second), "a"))
		res, err := n.sys.Request(ctxTimeout(t, 5*time.Second), &actor.PID{Node: "a", ID: "echo"}, &ping{N: 1})
		require.NoError(t, err)
		assert.Equal(t, pong{N: 2}, res)
	}

	_, err := nats.Connect(a.node.ClientURL(), nats.Token(tok), nats.MaxReconnects(0), nats.Timeout(2*time.Second))
	assert.Error(t, err, "a plain-text client must be refused")
}
