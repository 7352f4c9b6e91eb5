package webhook

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// TLSOptions configure how the client connects to https hooks. The zero value uses the system
// roots and no client certificate.
type TLSOptions struct {
	// CA is a PEM bundle of trusted root certificates. When set, it replaces the system roots.
	CA []byte
	// Cert and Key are a PEM client certificate and its key, for hooks that require mutual
	// TLS. Set both or neither.
	Cert, Key []byte
	// ServerName overrides the name verified in the hook's certificate.
	ServerName string
	// InsecureSkipVerify accepts any server certificate (Flagger's per-hook disableTLS, for
	// every hook). For tests and trusted networks only.
	InsecureSkipVerify bool
}

// IsZero reports whether no option is set.
func (o TLSOptions) IsZero() bool {
	return len(o.CA) == 0 && len(o.Cert) == 0 && len(o.Key) == 0 && o.ServerName == "" && !o.InsecureSkipVerify
}

// Config builds the tls.Config, reporting every problem at once.
func (o TLSOptions) Config() (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         o.ServerName,
		InsecureSkipVerify: o.InsecureSkipVerify, //nolint:gosec // opt-in, documented
	}
	var errs []error
	if len(o.CA) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(o.CA) {
			errs = append(errs, errors.New("TLS.CA: no PEM certificate found"))
		}
		cfg.RootCAs = pool
	}
	switch {
	case len(o.Cert) > 0 && len(o.Key) > 0:
		pair, err := tls.X509KeyPair(o.Cert, o.Key)
		if err != nil {
			errs = append(errs, fmt.Errorf("TLS.Cert/Key: %w", err))
		}
		cfg.Certificates = []tls.Certificate{pair}
	case len(o.Cert) > 0 || len(o.Key) > 0:
		errs = append(errs, errors.New("TLS.Cert and TLS.Key: set both or neither"))
	}
	return cfg, errors.Join(errs...)
}
