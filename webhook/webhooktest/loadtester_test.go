package webhooktest_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/webhook"
	"github.com/canarykit/canarykit/webhook/webhooktest"
)

func post(t *testing.T, h http.Handler, path, body string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", path, strings.NewReader(body)))
	b, err := io.ReadAll(w.Result().Body)
	require.NoError(t, err)
	return w.Code, string(b)
}

const podinfo = `"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"v1"`

func TestLoadTesterTasks(t *testing.T) {
	lt := &webhooktest.LoadTester{Run: func(c webhooktest.Command) (string, error) {
		if strings.Contains(c.Cmd, "fail") {
			return "", errors.New("exit status 1")
		}
		return "token: abc", nil
	}}
	for _, tc := range []struct {
		name, body string
		status     int
		answer     string
	}{
		{"not JSON", `{`, 400, ""},
		{"no metadata", `{` + podinfo + `}`, 400, "metadata not found in payload"},
		{"no cmd", `{` + podinfo + `,"metadata":{"type":"cmd"}}`, 400, "cmd not found in metadata"},
		{"no cmd, the default type", `{` + podinfo + `,"metadata":{"logCmdOutput":"true"}}`, 400, "cmd not found in metadata"},
		{"unknown type", `{` + podinfo + `,"metadata":{"type":"gatling","cmd":"x"}}`, 400, "unknown task type gatling"},
		{"async by default", `{` + podinfo + `,"metadata":{"cmd":"hey -z 2m"}}`, 202, ""},
		{"bash blocks", `{` + podinfo + `,"metadata":{"type":"bash","cmd":"curl token"}}`, 200, ""},
		{"bash returns output", `{` + podinfo + `,"metadata":{"type":"bash","cmd":"curl token","returnCmdOutput":"true"}}`, 200, "token: abc"},
		{"bash fails", `{` + podinfo + `,"metadata":{"type":"bash","cmd":"fail"}}`, 500, "exit status 1"},
		{"kubectl blocks", `{` + podinfo + `,"metadata":{"type":"kubectl","cmd":"kubectl get pods"}}`, 200, ""},
		// the loadtester runs a blocking type's cmd as given, "" when absent (bash -c "")
		{"bash without cmd runs the empty command", `{` + podinfo + `,"metadata":{"type":"bash"}}`, 200, ""},
	} {
		status, answer := post(t, lt, "/", tc.body)
		assert.Equal(t, tc.status, status, tc.name)
		assert.Equal(t, tc.answer, answer, tc.name)
	}
	cmds := lt.Commands()
	require.Len(t, cmds, 6, "only valid tasks are recorded")
	assert.Equal(t, webhooktest.Command{
		Payload: webhook.Payload{Name: "podinfo", Namespace: "test", Phase: "Progressing", Checksum: "v1",
			Metadata: map[string]string{"cmd": "hey -z 2m"}},
		Type: "cmd", Cmd: "hey -z 2m",
	}, cmds[0])
	assert.Equal(t, "podinfo.test", cmds[0].Canary())
	assert.True(t, cmds[1].Blocking)
	assert.Equal(t, webhooktest.Command{
		Payload: webhook.Payload{Name: "podinfo", Namespace: "test", Phase: "Progressing", Checksum: "v1",
			Metadata: map[string]string{"type": "bash"}},
		Type: "bash", Cmd: "", Blocking: true,
	}, cmds[5])
	assert.Len(t, lt.Requests(), 11)
}

func TestLoadTesterGates(t *testing.T) {
	lt := &webhooktest.LoadTester{}
	body := `{` + podinfo + `}`
	other := `{"name":"other","namespace":"test"}`

	for path, want := range map[string]int{"/gate/approve": 200, "/gate/halt": 403, "/healthz": 200} {
		status, _ := post(t, lt, path, "")
		assert.Equal(t, want, status, path)
	}
	status, answer := post(t, lt, "/gate/check", body)
	assert.Equal(t, 403, status, "gates start closed")
	assert.Equal(t, "Forbidden", answer)

	status, _ = post(t, lt, "/gate/open", body)
	assert.Equal(t, 202, status)
	status, answer = post(t, lt, "/gate/check", body)
	assert.Equal(t, 200, status)
	assert.Equal(t, "Approved", answer)
	assert.True(t, lt.GateOpen("podinfo", "test"))
	status, _ = post(t, lt, "/gate/check", other)
	assert.Equal(t, 403, status, "gates are keyed by name.namespace")
	status, _ = post(t, lt, "/rollback/check", body)
	assert.Equal(t, 403, status, "a rollback is a separate key")

	post(t, lt, "/gate/close", body)
	status, _ = post(t, lt, "/gate/check", body)
	assert.Equal(t, 403, status)

	post(t, lt, "/rollback/open", body)
	status, _ = post(t, lt, "/rollback/check", body)
	assert.Equal(t, 200, status)
	lt.CancelRollback("podinfo", "test")
	status, _ = post(t, lt, "/rollback/check", body)
	assert.Equal(t, 403, status)

	status, _ = post(t, lt, "/gate/check", `not json`)
	assert.Equal(t, 400, status)
	assert.Len(t, lt.RequestsTo("/gate/check"), 5)
}

func TestReceiversCheckSignatures(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	v, err := webhook.NewVerifier(webhook.VerifierConfig{Keys: [][]byte{key}})
	require.NoError(t, err)
	lt := &webhooktest.LoadTester{Verifier: v}
	rc := &webhooktest.Receiver{Verifier: v}
	for _, h := range []http.Handler{lt, rc} {
		status, answer := post(t, h, "/gate/approve", "")
		assert.Equal(t, 401, status)
		assert.Contains(t, answer, "missing")
	}
	assert.Equal(t, 401, rc.Requests()[0].Status)
}

func TestReceiverStatuses(t *testing.T) {
	rc := &webhooktest.Receiver{Respond: webhooktest.Statuses(503, 200)}
	var got []int
	for range 3 {
		status, _ := post(t, rc, "/x", `{"name":"podinfo"}`)
		got = append(got, status)
	}
	assert.Equal(t, []int{503, 200, 200}, got)
	reqs := rc.Requests()
	require.Len(t, reqs, 3)
	assert.Equal(t, "podinfo", reqs[0].Payload.Name)
	assert.Equal(t, "/x", reqs[0].Path)
	assert.Equal(t, `{"name":"podinfo"}`, string(reqs[0].Body))

	status, answer := post(t, &webhooktest.Receiver{}, "/", "")
	assert.Equal(t, 200, status)
	assert.Equal(t, "ok", answer)
}
