package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Identities the bed's token file defines.
const (
	// AdminUser is the identity of Env.Config: a member of system:masters.
	AdminUser = "canarykit-admin"
	// ControllerManagerUser is the identity kube-controller-manager uses (system:masters), so
	// audit counts can tell its requests from the tests'.
	ControllerManagerUser = "canarykit-controller-manager"
	// KubeletUser is the identity of the kubelet stand-in (system:masters).
	KubeletUser = "canarykit-kubelet"
	// UsersGroup is the group of every unprivileged user (see Env.NewUser). RBAC grants
	// nothing to it: each user can do only what a test binds to it.
	UsersGroup = "canarykit:users"
	// userCount is how many unprivileged users the token file predefines.
	userCount = 64
)

// unprivilegedUser names the i-th predefined unprivileged user.
func unprivilegedUser(i int) string { return fmt.Sprintf("canarykit-user-%02d", i) }

// ServiceCIDR is the bed's Service ClusterIP range: 65,534 addresses, room for 1,000 targets
// with three Services each many times over (a /24 held 84 such targets). The bed's serving
// certificate names its first address, the kubernetes Service's.
const ServiceCIDR = "10.0.0.0/16"

// auditLogMaxSizeMB is --audit-log-maxsize. The audit log is written through lumberjack, which
// rotates the file at this many megabytes and reads 0 as its default, 100 MB: a heavy run
// would then continue in a new file and offsets into the old one (AuditMark) would count the
// wrong lines. 2^30 MB (1 PiB) is never reached, so the bed's log is one file at any size and
// counts are exact. (--audit-log-maxbackup and --audit-log-maxage stay 0: keep every file.)
const auditLogMaxSizeMB = 1 << 30

// auditPolicy records every request once per stage at level Metadata: who did what to which
// resource, without bodies.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: Metadata
`

// writeTokenFile writes the apiserver's static token file (admin, controller-manager and the
// unprivileged users) and returns the user → token map.
func writeTokenFile(path string) (map[string]string, error) {
	tokens := map[string]string{}
	var b strings.Builder
	add := func(user, groups string) error {
		tok, err := randomToken()
		if err != nil {
			return err
		}
		tokens[user] = tok
		fmt.Fprintf(&b, "%s,%s,%s,%q\n", tok, user, user, groups)
		return nil
	}
	if err := add(AdminUser, "system:masters"); err != nil {
		return nil, err
	}
	for _, u := range []string{ControllerManagerUser, KubeletUser} {
		if err := add(u, "system:masters"); err != nil {
			return nil, err
		}
	}
	for i := range userCount {
		if err := add(unprivilegedUser(i), UsersGroup); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return nil, fmt.Errorf("write token file: %w", err)
	}
	return tokens, nil
}

// apiServerConfig is what startAPIServer needs.
type apiServerConfig struct {
	path      string
	dir       string // scratch and log directory
	etcdURL   string
	port      int
	pki       *pki
	tokenFile string
	auditLog  string // empty: no audit log
	extraArgs []string
	logPath   string // the server's output
}

// startAPIServer runs kube-apiserver and waits until /readyz answers for the admin.
func startAPIServer(ctx context.Context, c apiServerConfig, adminToken string) (*process, error) {
	args := []string{
		"--etcd-servers=" + c.etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", c.port),
		"--cert-dir=" + filepath.Join(c.dir, "certs"),
		"--tls-cert-file=" + c.pki.certFile,
		"--tls-private-key-file=" + c.pki.keyFile,
		"--token-auth-file=" + c.tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + c.pki.saPublicKey,
		"--service-account-signing-key-file=" + c.pki.saPrivateKey,
		"--service-cluster-ip-range=" + ServiceCIDR,
		"--shutdown-delay-duration=0s",
		"--profiling=false",
		// The endpoints of the kubernetes Service would be 127.0.0.1, which validation refuses.
		"--endpoint-reconciler-type=none",
	}
	if c.auditLog != "" {
		policy := filepath.Join(c.dir, "audit-policy.yaml")
		if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
			return nil, fmt.Errorf("write audit policy: %w", err)
		}
		args = append(args,
			"--audit-policy-file="+policy,
			"--audit-log-path="+c.auditLog,
			"--audit-log-mode=blocking",
			fmt.Sprintf("--audit-log-maxsize=%d", auditLogMaxSizeMB),
		)
	}
	args = append(args, c.extraArgs...)
	p, err := startProcess(binAPIServer, c.logPath, c.path, args...)
	if err != nil {
		return nil, err
	}
	client, err := caClient(c.pki.caPEM)
	if err != nil {
		p.stop(0)
		return nil, err
	}
	url := fmt.Sprintf("https://%s/readyz", hostPort(c.port))
	err = waitUntil(ctx, p, "wait for kube-apiserver", func(ctx context.Context) error {
		return httpGetOK(ctx, client, url, adminToken, "ok")
	})
	if err != nil {
		p.stop(0)
		return nil, err
	}
	return p, nil
}

// caClient is an HTTP client trusting only the bed's CA.
func caClient(caPEM []byte) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("parse the bed's CA certificate")
	}
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}, nil
}
