package cli_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/internal/demo"
)

// writeTLSFiles writes a CA and a node certificate for 127.0.0.1 signed
// by it, as PEM files, and returns their paths.
func writeTLSFiles(t *testing.T) (cert, key, ca string) {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "goray test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	nodeKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	nodeTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "goray node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	nodeDER, err := x509.CreateCertificate(rand.Reader, nodeTmpl, caCert, &nodeKey.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(nodeKey)
	require.NoError(t, err)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	return write("node.pem", "CERTIFICATE", nodeDER), write("node.key", "EC PRIVATE KEY", keyDER), write("ca.pem", "CERTIFICATE", caDER)
}

// TestTLSCluster: a head and a node started with --tls-*: they join, the
// CLI's tools reach them over TLS, a driver with the same files works,
// and one without TLS is refused.
func TestTLSCluster(t *testing.T) {
	cert, key, ca := writeTLSFiles(t)
	tlsFlags := []string{"--tls-cert", cert, "--tls-key", key, "--tls-ca", ca}
	c := newCluster(t)
	head := c.startHead(append([]string{"--num-cpus", "0"}, tlsFlags...)...)
	n := c.startNode(head.address(), append([]string{"--num-cpus", "1"}, tlsFlags...)...)
	assert.Contains(t, c.run("status"), "Alive: 2 nodes")

	conf, err := goray.LoadTLS(cert, key, ca)
	require.NoError(t, err)
	driver := c.driver(n.address(), goray.WithTLS(conf))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := driver.NewActor(ctx, demo.Counter, cpu1)
	require.NoError(t, err)
	assert.Equal(t, n.Name, ask(t, h, 1).Node)

	plainCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = goray.Init(plainCtx, goray.WithAddress(head.address()), goray.WithTokenFile(filepath.Join(c.session(), "token")),
		goray.WithoutObjectStore(), goray.WithResources(map[string]float64{"CPU": 0}))
	require.Error(t, err, "a node without TLS must not join a TLS cluster")
	t.Logf("plain-text join refused: %v", err)

	_, err = goray.LoadTLS(cert, key, "")
	assert.ErrorIs(t, err, goray.ErrConfig)
}
