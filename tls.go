package goray

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// Environment variables naming the TLS files of a node (see LoadTLS).
const (
	EnvTLSCert = "GORAY_TLS_CERT"
	EnvTLSKey  = "GORAY_TLS_KEY"
	EnvTLSCA   = "GORAY_TLS_CA"
)

// WithTLS requires TLS on this node's listeners (other nodes, clients)
// and uses it to reach the others. Every node of the cluster needs it:
// the configuration both serves its certificate and verifies the peers'
// against its roots. Without it, Init reads GORAY_TLS_CERT, GORAY_TLS_KEY
// and GORAY_TLS_CA when they are set.
func WithTLS(c *tls.Config) InitOption { return func(cfg *initConfig) { cfg.tls = c } }

// LoadTLS builds a node's TLS configuration from PEM files: its
// certificate and key (valid for the node's IP, and 127.0.0.1 for tools
// on the host) and the CA that signed every node's certificate. Nodes
// verify each other both ways.
func LoadTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" || caFile == "" {
		return nil, fmt.Errorf("%w: TLS needs a certificate, its key and the CA (all three)", ErrConfig)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: TLS certificate: %v", ErrConfig, err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("%w: TLS CA: %v", ErrConfig, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: TLS CA %s holds no PEM certificate", ErrConfig, caFile)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// tlsFromEnv loads the TLS files the environment names, if any.
func (c *initConfig) tlsFromEnv() error {
	cert, key, ca := os.Getenv(EnvTLSCert), os.Getenv(EnvTLSKey), os.Getenv(EnvTLSCA)
	if c.tls != nil || cert == "" && key == "" && ca == "" {
		return nil
	}
	t, err := LoadTLS(cert, key, ca)
	c.tls = t
	return err
}
