package webhook_test

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testcerts"
	"github.com/canarykit/canarykit/webhook"
)

func serverCA(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

// quiet silences a TLS test server's handshake-failure logs, which the tests provoke.
func quiet(srv *httptest.Server) *httptest.Server {
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	return srv
}

func ok200(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }

func TestTLS(t *testing.T) {
	srv := quiet(httptest.NewUnstartedServer(http.HandlerFunc(ok200)))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	req := gateReq("secure", canary.HookPreRollout, srv.URL)
	req.Hook.Retries = 3

	t.Run("unknown CA fails without retries", func(t *testing.T) {
		ok, err := newClient(t, fastRetries).Allow(context.Background(), req)
		assert.False(t, ok)
		assert.ErrorContains(t, err, "certificate")
		var werr *webhook.Error
		require.ErrorAs(t, err, &werr)
		assert.Equal(t, 1, werr.Attempts)
	})
	t.Run("CA bundle", func(t *testing.T) {
		ok, err := newClient(t, webhook.Options{TLS: webhook.TLSOptions{CA: serverCA(srv)}}).Allow(context.Background(), req)
		require.NoError(t, err)
		assert.True(t, ok)
	})
	t.Run("insecureSkipVerify", func(t *testing.T) {
		ok, err := newClient(t, webhook.Options{TLS: webhook.TLSOptions{InsecureSkipVerify: true}}).Allow(context.Background(), req)
		require.NoError(t, err)
		assert.True(t, ok)
	})
	t.Run("a hook's disableTLS skips verification for that hook only", func(t *testing.T) {
		c := newClient(t, fastRetries)
		insecure := req
		insecure.Hook.DisableTLS = true
		ok, err := c.Allow(context.Background(), insecure)
		require.NoError(t, err)
		assert.True(t, ok)
		ok, err = c.Allow(context.Background(), req)
		assert.False(t, ok, "other hooks still verify")
		assert.ErrorContains(t, err, "certificate")
	})
	t.Run("server name", func(t *testing.T) {
		// httptest's certificate is issued for example.com and 127.0.0.1.
		ok, err := newClient(t, webhook.Options{TLS: webhook.TLSOptions{CA: serverCA(srv), ServerName: "example.com"}}).
			Allow(context.Background(), req)
		require.NoError(t, err)
		assert.True(t, ok)
		ok, err = newClient(t, webhook.Options{TLS: webhook.TLSOptions{CA: serverCA(srv), ServerName: "other.test"}}).
			Allow(context.Background(), req)
		assert.False(t, ok)
		assert.ErrorContains(t, err, "other.test")
	})
}

func TestMutualTLS(t *testing.T) {
	ca := testcerts.NewCA(t)
	srv := quiet(httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.TLS.PeerCertificates[0].Subject.CommonName))
	})))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	req := gateReq("mtls", canary.HookRollout, srv.URL)

	_, err := newClient(t, webhook.Options{TLS: webhook.TLSOptions{CA: serverCA(srv)}}).Allow(context.Background(), req)
	require.Error(t, err, "the server requires a client certificate")

	cert, key := ca.IssueClient(t, "canarykit")
	c := newClient(t, webhook.Options{TLS: webhook.TLSOptions{CA: serverCA(srv), Cert: cert, Key: key}})
	res, err := c.Post(context.Background(), req.Hook, webhook.Payload{})
	require.NoError(t, err)
	assert.Equal(t, "canarykit", res.Body)

	_, err = webhook.New(webhook.Options{TLS: webhook.TLSOptions{Cert: cert, Key: []byte("junk")}})
	assert.ErrorContains(t, err, "TLS.Cert/Key")
}
